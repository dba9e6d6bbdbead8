from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_captures import EVENT_CAPTURES, capture

from esl_handlers.esl_frames import (
    EslFrameParser,
    EslProtocolError,
    PlainEvent,
    parse_plain_body,
    split_frames,
    url_decode,
)


@pytest.mark.parametrize(("name", "count"), sorted(EVENT_CAPTURES.items()))
def test_every_capture_splits_into_its_documented_event_count(name: str, count: int) -> None:
    frames = split_frames(capture(name))

    assert len(frames) == count
    for frame in frames:
        assert list(frame.headers) == ["Content-Length", "Content-Type"]
        assert frame.content_type == "text/event-plain"
        assert len(frame.body) == int(frame.headers["Content-Length"])
        assert frame.body.endswith(b"\n\n")


def test_session_capture_holds_the_four_server_frames() -> None:
    auth, accepted, status, enabled = split_frames(capture("esl-session-auth.server.txt"))

    assert auth.headers == {"Content-Type": "auth/request"} and auth.body == b""
    assert accepted.headers == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
    assert status.content_type == "api/response"
    assert len(status.body) == 364 and status.body.endswith(b"\n")
    assert status.body.startswith(b"UP 0 years")
    assert enabled.headers["Reply-Text"] == "+OK event listener enabled plain"


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("api-show-channels-json.txt", 1947),
        ("api-show-channels-json-empty.txt", 17),
        ("api-show-registrations-json.txt", 502),
        ("api-callcenter-queue-list-agents.txt", 379),
        ("api-callcenter-agent-set-status-logged-out.txt", 4),
    ],
)
def test_api_response_captures_are_one_frame_each(name: str, length: int) -> None:
    (frame,) = split_frames(capture(name))

    assert frame.content_type == "api/response"
    assert len(frame.body) == length


def _all_captures() -> bytes:
    return b"".join(capture(name) for name in sorted(EVENT_CAPTURES))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_split_gives_the_same_frames(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(EVENT_CAPTURES) + ["esl-session-auth.server.txt"]))
    stream = capture(name)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    parser = EslFrameParser()
    frames = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        frames.extend(parser.feed(stream[previous:cut]))
        previous = cut

    assert frames == split_frames(stream)
    assert parser.pending == 0


@settings(max_examples=20, deadline=None)
@given(size=st.integers(1, 9000))
def test_fixed_chunk_sizes_over_all_captures(size: int) -> None:
    stream = _all_captures()
    parser = EslFrameParser()
    frames = []
    for start in range(0, len(stream), size):
        frames.extend(parser.feed(stream[start : start + size]))

    assert len(frames) == sum(EVENT_CAPTURES.values())
    assert frames == split_frames(stream)


def test_a_stream_cut_mid_frame_keeps_the_partial_frame_pending() -> None:
    stream = capture("events-call-echo.txt")
    parser = EslFrameParser()

    frames = parser.feed(stream[:-10])

    assert len(frames) == 6
    assert parser.pending > 0
    assert len(parser.feed(stream[-10:])) == 1
    with pytest.raises(EslProtocolError):
        split_frames(stream[:-10])


def test_bad_content_length_is_a_protocol_error() -> None:
    with pytest.raises(EslProtocolError):
        EslFrameParser().feed(b"Content-Length: twelve\nContent-Type: text/event-plain\n\n")


def test_header_line_without_colon_is_a_protocol_error() -> None:
    with pytest.raises(EslProtocolError):
        EslFrameParser().feed(b"auth ClueCon\n\n")


def _hangup_complete() -> PlainEvent:
    for frame in split_frames(capture("events-call-answered.txt")):
        event = PlainEvent(frame.body)
        if event["Event-Name"] == "CHANNEL_HANGUP_COMPLETE":
            return event
    raise AssertionError("no CHANNEL_HANGUP_COMPLETE in the capture")


def test_repeated_hangup_cause_does_not_break_either_parser() -> None:
    event = _hangup_complete()

    assert event.body.count(b"\nHangup-Cause: ") == 2
    assert event["Hangup-Cause"] == "NORMAL_CLEARING"
    assert event.getall("Hangup-Cause") == ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    assert list(event).count("Hangup-Cause") == 1
    assert dict(event)["Hangup-Cause"] == "NORMAL_CLEARING"


@pytest.mark.parametrize("name", sorted(EVENT_CAPTURES))
def test_targeted_lookup_agrees_with_the_full_parse_on_every_header(name: str) -> None:
    for frame in split_frames(capture(name)):
        full: dict[str, str] = {}
        for key, value in parse_plain_body(frame.body):
            full.setdefault(key, value)
        event = PlainEvent(frame.body)
        for key, value in full.items():
            assert event.get(key) == value, key
        assert dict(event) == full
        assert event.get("No-Such-Header") is None
        assert "No-Such-Header" not in event


def test_values_are_url_decoded_and_names_are_matched_whole() -> None:
    register = PlainEvent(split_frames(capture("events-register.txt"))[0].body)
    assert register["Event-Subclass"] == "sofia::register"  # first line of a CUSTOM event
    assert register["Event-Name"] == "CUSTOM"
    assert register["contact"] == '"" <sip:1000@192.0.2.2:15061>'

    create = PlainEvent(split_frames(capture("events-call-answered.txt"))[0].body)
    assert create["Event-Name"] == "CHANNEL_CREATE"  # not variable_Event-Name: REQUEST_PARAMS
    assert create["Unique-ID"] == "32302580-d2fe-4a9e-b80a-82a23e4cf917"  # not Caller-Unique-ID
    assert create["Channel-Name"] == "sofia/internal/1000@192.0.2.2:5060"
    assert "\r\n" in create["variable_switch_r_sdp"]

    states = [
        PlainEvent(frame.body).get("CC-Agent-State")
        for frame in split_frames(capture("events-callcenter.txt"))
    ]
    assert "In a queue call" in states


@pytest.mark.parametrize(
    "raw",
    [
        b"plain",
        b"a%20b",
        b"%22Alice%22%20%3Csip%3A1000%40x%3E",
        b"100%",
        b"%zz%4",
        b"caf%C3%A9",
        b"%e2%82%ac",
    ],
)
def test_url_decode_matches_the_standard_library(raw: bytes) -> None:
    assert url_decode(raw) == unquote(raw.decode())


_PIECES = [b"%", b"%4", b"%41", b"%C3%A9", b"%e2%82%ac", b"\\", b"\\x41", b"\\\\", b"x", b"%zz", b"+", b"%0A"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=3), max_size=12))
def test_url_decode_of_any_bytes_decodes_exactly_the_valid_escapes(pieces: list[bytes]) -> None:
    """The codec fast path and the lenient fallback agree with a plain regex decoding."""
    raw = b"".join(pieces).replace(b"\n", b"")
    expected = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    assert url_decode(raw) == expected.decode("utf-8", "replace")


def test_a_fully_parsed_event_answers_lookups_from_the_parse() -> None:
    event = _hangup_complete()
    everything = dict(event)
    assert event.get("Hangup-Cause") == everything["Hangup-Cause"] == "NORMAL_CLEARING"
    assert event.get("variable_switch_r_sdp") == everything["variable_switch_r_sdp"]
    assert event.get("No-Such-Header", "absent") == "absent"


@pytest.mark.parametrize(
    "body",
    [
        b"A: x%0Ay\nB: 1\n\n",  # an encoded line break (SDP bodies)
        b"A: x%0By\nB: 2\n",  # an encoded vertical tab: decoded value by value
        b"A: a\x0bb\nB: %41\n",  # a raw one too
        b"A: %3A%20x\nA: second\n",  # a decoded ": " and a repeated name
        b"A: caf%C3%A9%0a\n",
        b"Name:\nX: %zz%4\n",  # no value separator; a % that is no escape
        b"A: \\x41%5C\n",  # backslashes, raw and encoded
    ],
)
def test_the_full_parse_of_awkward_bodies_matches_the_line_by_line_parse(body: bytes) -> None:
    expected: dict[str, str] = {}
    for key, value in parse_plain_body(body):
        expected.setdefault(key, value)
    assert dict(PlainEvent(body)) == expected
