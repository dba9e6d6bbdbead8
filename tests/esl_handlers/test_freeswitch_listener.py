"""The gevent listener against the byte-exact fake ESL server, run in a child process."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from fakes.esl_server import (
    FakeEslServer,
    api_response,
    default_api_replies,
    event_plain_frame,
    fixture_bytes,
    split_raw_frames,
)
from listener_subprocess import REPO, ListenerProcess
from wire_captures import capture, normalised

from esl_handlers.esl_frames import PlainEvent, split_frames
from esl_handlers.freeswitch_events import KEPT_ENDS_COMMAND, SUBSCRIBE_COMMAND, normalise_freeswitch_event

SECRET = "ClueCon"


def listener_config(server: FakeEslServer, **overrides: Any) -> dict[str, Any]:
    host, port = server.address
    config = {
        "node": "fs-test",
        "pbx": "freeswitch",
        "host": host,
        "port": port,
        "secret": SECRET,
        "heartbeat_interval": 5.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "command_timeout": 5.0,
    }
    config.update(overrides)
    return config


def expected_ids(name: str) -> list[str]:
    return [event.event_id for event in normalised(name, "fs-test")]


def test_auth_subscribe_resync_then_replay_byte_split() -> None:
    expected = expected_ids("events-call-answered.txt")
    server = FakeEslServer(events=capture("events-call-answered.txt"), chunk_sizes=[1, 7, 113, 2, 4000])
    with server, ListenerProcess(listener_config(server)) as listener:
        listener.wait_for(lambda p: len(p.events) == len(expected))
        stats = listener.stop()

    (session,) = server.sessions
    assert bytes(session.received).startswith(capture("esl-session-auth.client.txt").split(b"api status")[0])
    assert session.commands == [
        f"auth {SECRET}",
        SUBSCRIBE_COMMAND,
        "api show channels as json",
        "api show registrations as json",
        KEPT_ENDS_COMMAND,
    ]
    snapshot, *events = listener.records
    assert snapshot["type"] == "Snapshot"
    assert snapshot["parts"] == ["channels", "registrations"]
    assert [c["call_id"] for c in snapshot["channels"]] == [
        "32302580-d2fe-4a9e-b80a-82a23e4cf917",
        "457055a7-6c2d-498d-926b-660fa91788df",
    ]
    assert [r["extension"] for r in snapshot["registrations"]] == ["1000", "1001"]
    assert [e["event_id"] for e in events] == expected
    hangups = [e for e in events if e["type"] == "ChannelHangup"]
    assert [h["hangup_cause"] for h in hangups] == ["NORMAL_CLEARING", "NORMAL_CLEARING"]
    assert hangups[0]["raw"]["variable_billsec"] == "2"
    assert stats["received"] == 14
    assert stats["processed"] == 13 and stats["ignored"] == 1  # CHANNEL_UNBRIDGE
    assert stats["resyncs"] == 1 and stats["connects"] == 1
    assert stats["malformed"] == stats["unknown"] == 0


def test_events_arriving_during_resync_are_held_until_after_the_snapshot() -> None:
    expected = expected_ids("events-call-echo.txt")
    server = FakeEslServer(events=capture("events-call-echo.txt"), api_delay=0.3)
    with server, ListenerProcess(listener_config(server)) as listener:
        listener.wait_for(lambda p: len(p.events) == len(expected))
        listener.stop()

    (session,) = server.sessions
    assert session.stream_done_at is not None
    assert session.stream_done_at < session.api_replied_at[0]  # the whole stream came during resync
    assert listener.records[0]["type"] == "Snapshot"
    assert [e["event_id"] for e in listener.records[1:]] == expected


def _frame_offsets(stream: bytes) -> list[int]:
    offsets, position = [], 0
    for frame in split_raw_frames(stream):
        offsets.append(position)
        position += len(frame)
    return offsets


def test_disconnect_mid_frame_then_reconnect_resync_nothing_lost_no_duplicates() -> None:
    stream = capture("events-callcenter.txt")
    expected = expected_ids("events-callcenter.txt")
    cut = _frame_offsets(stream)[11] + 333  # inside frame 12 (0-based 11)
    server = FakeEslServer(
        events=stream,
        disconnect_after=cut,
        chunk_sizes=[50, 1, 999],
        stream_after=KEPT_ENDS_COMMAND,
    )
    with server:
        config = listener_config(server, callcenter_queues=["support@default"])
        with ListenerProcess(config) as listener:
            listener.wait_for(lambda p: len(p.events) == len(expected))
            stats = listener.stop()

    first, second = server.sessions
    assert first.cut_by_server and first.events_sent == 11
    assert second.commands[:2] == [f"auth {SECRET}", SUBSCRIBE_COMMAND]
    assert "api callcenter_config queue list agents support@default" in second.commands
    kinds = [record["type"] for record in listener.records]
    assert kinds.count("Snapshot") == 2
    ids = [e["event_id"] for e in listener.events]
    assert ids == expected
    assert len(ids) == len(set(ids))
    second_snapshot = kinds.index("Snapshot", 1)
    first_session_events = sum(
        1 for record in listener.records[:second_snapshot] if record["type"] != "Snapshot"
    )
    assert first_session_events == len(expected_ids_of_first_frames(stream, 11))
    snapshot = listener.snapshots[1]
    assert snapshot["parts"] == ["channels", "queue_members", "registrations"]
    assert snapshot["queue_members"][0]["agent"] == "1001@default"
    assert stats["connects"] == 2 and stats["resyncs"] == 2 and stats["disconnects"] == 2
    assert stats["malformed"] == 0  # the cut frame was never half-delivered


def expected_ids_of_first_frames(stream: bytes, count: int) -> list[str]:
    head = b"".join(split_raw_frames(stream)[:count])
    events = (normalise_freeswitch_event(PlainEvent(f.body), "fs-test") for f in split_frames(head))
    return [event.event_id for event in events if event is not None]


def test_malformed_and_unknown_frames_are_counted_and_skipped() -> None:
    broken = event_plain_frame(b"Event-Name: CHANNEL_CREATE\nCore-UUID: x\nEvent-Sequence: 1\n\n")
    unknown = event_plain_frame(
        b"Event-Name: DTMF\nCore-UUID: x\nEvent-Sequence: 2\nEvent-Date-Timestamp: 1795219369222066\n\n"
    )
    stream = broken + unknown + capture("events-call-echo.txt")
    expected = expected_ids("events-call-echo.txt")
    server = FakeEslServer(events=stream, chunk_sizes=[17])
    with server, ListenerProcess(listener_config(server)) as listener:
        listener.wait_for(lambda p: len(p.events) == len(expected))
        stats = listener.stop()

    assert [e["event_id"] for e in listener.events] == expected
    assert stats["malformed"] == 1
    assert stats["unknown"] == 1
    assert stats["received"] == 9
    assert any("malformed event skipped" in line for line in listener.stderr_lines)


def test_silent_connection_trips_the_heartbeat_watchdog_and_reconnects() -> None:
    expected = expected_ids("events-call-echo.txt")
    server = FakeEslServer(events=capture("events-call-echo.txt"))
    with server:
        config = listener_config(server, heartbeat_interval=0.2, missed_heartbeats=3)
        with ListenerProcess(config) as listener:
            listener.wait_for(lambda p: len(p.snapshots) >= 3)
            stats = listener.stop()

    assert len(server.sessions) >= 3
    assert [e["event_id"] for e in listener.events] == expected  # replayed once, nothing twice
    assert stats["watchdog_timeouts"] >= 2
    assert stats["connects"] >= 3


def test_wrong_password_backs_off_and_never_logs_the_secret() -> None:
    secret = "Sup3r-S3cret-Pa55"
    server = FakeEslServer(events=capture("events-call-echo.txt"), password="ClueCon")
    with server:
        config = listener_config(server, secret=secret)
        with ListenerProcess(config) as listener:
            listener.wait_for(lambda p: len(server.sessions) >= 3)
            stats = listener.stop()

    assert listener.records == []
    assert stats["auth_failures"] >= 3 and stats["connects"] == 0
    assert all(session.commands == [f"auth {secret}"] for session in server.sessions)
    assert not any(secret in line for line in listener.stderr_lines)
    assert any("authentication refused" in line for line in listener.stderr_lines)


def test_unreachable_pbx_is_retried_with_backoff() -> None:
    server = FakeEslServer(events=capture("events-call-echo.txt"))
    server.start()
    config = listener_config(server)
    server.stop()  # nothing listens on that port any more
    with ListenerProcess(config) as listener:
        listener.wait_for(lambda p: sum("reconnecting in" in line for line in p.stderr_lines) >= 3)
        stats = listener.stop()
    assert stats["connects"] == 0


@pytest.mark.parametrize("module", ["esl_handlers.freeswitch_listener", "esl_handlers.freeswitch_main"])
def test_importing_the_listener_does_not_monkey_patch(module: str) -> None:
    code = (
        f"import {module}, gevent.monkey, socket, threading;"
        "assert not gevent.monkey.is_module_patched('socket');"
        "assert not gevent.monkey.is_module_patched('threading');"
        "print('clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "clean", result.stderr


CALLER = "32302580-d2fe-4a9e-b80a-82a23e4cf917"
KEPT = f"D/switchboard_ended_{CALLER}/1795219369222066,1795219370242062,1795219372282069,2,NORMAL_CLEARING,600,\n"


def test_the_ends_the_pbx_kept_are_in_the_snapshot_then_pruned() -> None:
    """The dialplan's hang-up hook kept the caller's end in mod_hash while nobody listened: the
    resync reads it as the hang-up it stands for, and prunes it once the sink has it."""
    replies = {
        "api show channels as json": fixture_bytes("api-show-channels-json-empty.txt"),
        "api show registrations as json": fixture_bytes("api-show-registrations-json.txt"),
        KEPT_ENDS_COMMAND: api_response(
            (KEPT + "D/other_switchboard_ended_x/1\nD/switchboard_ended_not-a-uuid/1,2,3,4,X\n").encode()
        ),
        f"api hash delete/switchboard_ended/{CALLER}": api_response(b"+OK\n"),
    }
    server = FakeEslServer(api_replies=replies)
    with server, ListenerProcess(listener_config(server)) as listener:
        listener.wait_for(lambda p: len(p.snapshots) == 1)
        server.wait_for_command(f"api hash delete/switchboard_ended/{CALLER}")
        listener.stop()
    (snapshot,) = listener.snapshots
    assert snapshot["parts"] == ["channels", "ended", "registrations"]
    (ended,) = snapshot["ended"]
    assert ended["call_id"] == CALLER and ended["event_id"] == f"ended:{CALLER}"
    assert (ended["ended_at"], ended["answered_at"], ended["started_at"]) == (
        1795219372.282069,
        1795219370.242062,
        1795219369.222066,
    )
    assert (ended["billsec"], ended["duration"], ended["hangup_cause"]) == (2, 3, "NORMAL_CLEARING")
    assert (ended["ring_group"], ended["queue"]) == ("600", None)
    (session,) = server.sessions
    assert session.commands.index(KEPT_ENDS_COMMAND) < session.commands.index(
        f"api hash delete/switchboard_ended/{CALLER}"
    )


def test_a_hang_up_seen_live_prunes_what_the_pbx_kept_of_it() -> None:
    frames = split_raw_frames(capture("events-call-answered.txt"))
    hooked = []
    for frame in frames:
        head, _, body = frame.partition(b"\n\n")
        if b"Event-Name: CHANNEL_HANGUP_COMPLETE" in body and f"\nUnique-ID: {CALLER}".encode() in body:
            body = body.replace(
                b"\nvariable_hangup_cause: ",
                b"\nvariable_api_hangup_hook: hash%20insert/switchboard_ended/"
                + CALLER.encode()
                + b"/%24%7Bstart_uepoch%7D\nvariable_hangup_cause: ",
                1,
            )
            frame = event_plain_frame(body)
        hooked.append(frame)
    delete = f"api hash delete/switchboard_ended/{CALLER}"
    server = FakeEslServer(
        events=b"".join(hooked), api_replies=default_api_replies() | {delete: api_response(b"+OK\n")}
    )
    with server, ListenerProcess(listener_config(server)) as listener:
        listener.wait_for(lambda p: len(p.events) == len(expected_ids("events-call-answered.txt")))
        server.wait_for_command(delete)
        listener.stop()
    (session,) = server.sessions
    assert session.commands.count(delete) == 1
    assert not any("457055a7" in c for c in session.commands if c.startswith("api hash"))
