"""A FreeSWITCH broadcast call: the originate through the tenant's gateway that plays the
recording, and its result from the events (the hang-up of the call, or a failed originate job).
The real calls are in tests/integration/test_broadcasts.py."""

from __future__ import annotations

import time

import gevent.event
import pytest

from esl_handlers import freeswitch_commands as fs
from esl_handlers.command_values import BadCommand
from esl_handlers.freeswitch_command_executor import FreeswitchCommandExecutor

PARAMS = {
    "to": "+14155552001",
    "caller_id": "+12125550100",
    "recording": "broadcast-7-0123456789abcdef.wav",
    "ring_seconds": 25,
    "channel_id": "0123456789abcdef0123456789abcdef",
}


def test_a_broadcast_call_dials_the_gateway_and_plays_the_recording() -> None:
    command = fs.broadcast_call(PARAMS, 42)
    line, job = command.wire.decode().split("\n")[:2]
    assert line == (
        "bgapi originate {origination_uuid=01234567-89ab-cdef-0123-456789abcdef,"
        "origination_caller_id_number=+12125550100,origination_caller_id_name=+12125550100,"
        "originate_timeout=25,ignore_early_media=true,switchboard_broadcast_command=42}"
        "sofia/gateway/switchboard-trunk/+14155552001 "
        "&playback(${conf_dir}/switchboard/media/broadcast-7-0123456789abcdef.wav)"
    )
    assert job == f"Job-UUID: {command.job_uuid}"
    assert fs.commands_for("broadcast_call", PARAMS, 42)[0].wire.split(b"\n")[0] == line.encode()


@pytest.mark.parametrize(
    "field, value",
    [
        ("to", "+1415 555"),
        ("to", "+14155552001,x=y"),
        ("caller_id", "+1212}evil"),
        ("recording", "../../etc/passwd"),
        ("recording", "broadcast-7-0123456789abcdef.wav)&hangup("),
        ("channel_id", "z" * 32),
    ],
)
def test_a_broadcast_call_value_of_the_wrong_shape_is_never_sent(field: str, value: str) -> None:
    with pytest.raises(BadCommand):
        fs.broadcast_call(PARAMS | {field: value}, 42)


def _hangup(cause: str, answered: str, command: str | None = "42") -> bytes:
    lines = [
        "Event-Name: CHANNEL_HANGUP_COMPLETE",
        "Unique-ID: 01234567-89ab-cdef-0123-456789abcdef",
        f"Hangup-Cause: {cause}",
        f"Caller-Channel-Answered-Time: {answered}",
        "variable_origination_caller_id_number: %2B12125550100",
    ]
    if command is not None:
        lines.append(f"variable_switchboard_broadcast_command: {command}")
    return ("\n".join(lines) + "\n\n").encode()


def _job(job_uuid: str, result: str) -> bytes:
    data = result.encode()
    return (
        f"Event-Name: BACKGROUND_JOB\nJob-UUID: {job_uuid}\nJob-Command: originate\n"
        f"Content-Length: {len(data)}\n\n"
    ).encode() + data


def test_the_hangup_says_answered_or_the_cause() -> None:
    assert fs.broadcast_hangup(_hangup("NORMAL_CLEARING", "1796556608123456")) == fs.BroadcastHangup(
        42, "ANSWER"
    )
    assert fs.broadcast_hangup(_hangup("USER_BUSY", "0")) == fs.BroadcastHangup(42, "USER_BUSY")
    assert fs.broadcast_hangup(_hangup("NO_ANSWER", "0")) == fs.BroadcastHangup(42, "NO_ANSWER")
    assert fs.broadcast_hangup(_hangup("USER_BUSY", "0", command=None)) is None
    assert fs.broadcast_hangup(_hangup("USER_BUSY", "0", command="4;2")) is None
    assert fs.job_failure("+OK 01234567-89ab-cdef-0123-456789abcdef\n") is None
    assert fs.job_failure("-ERR USER_BUSY\n") == "USER_BUSY"
    assert fs.job_failure("-ERR") == "UNKNOWN"


def test_the_executor_takes_broadcast_results_from_events_and_passes_the_call_on() -> None:
    executor = FreeswitchCommandExecutor("node", lambda: None, gevent.event.Event())
    # The hang-up is a result, and still a call event for the normaliser.
    assert executor.on_event(_hangup("USER_BUSY", "0")) is False
    assert executor._call_results.get_nowait() == (42, "USER_BUSY")
    # A failed originate job (no channel was ever made) is a result; a call that went up is not.
    executor._broadcast_jobs.update({"job-1": 7, "job-2": 8})
    assert executor.on_event(_job("job-1", "-ERR GATEWAY_DOWN\n")) is True
    assert executor.on_event(_job("job-2", "+OK 01234567-89ab-cdef-0123-456789abcdef\n")) is True
    assert executor._call_results.get_nowait() == (7, "GATEWAY_DOWN")
    assert executor._call_results.empty() and executor._broadcast_jobs == {}
    # Another call's hang-up is no result.
    assert executor.on_event(_hangup("USER_BUSY", "0", command=None)) is False
    assert executor._call_results.empty()


def test_paced_commands_go_out_spaced_per_key() -> None:
    executor = FreeswitchCommandExecutor("node", lambda: None, gevent.event.Event())
    sent = []
    for _ in range(4):
        executor._pace({"pace": {"key": "broadcasts-1", "seconds": 0.05}})
        sent.append(time.monotonic())
    started = time.monotonic()
    executor._pace({"pace": {"key": "broadcasts-2", "seconds": 0.05}})
    executor._pace({})
    assert time.monotonic() - started < 0.05, "another tenant's broadcast has its own pace"
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert all(gap >= 0.049 for gap in gaps), gaps
