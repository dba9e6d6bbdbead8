"""Commands as PBX commands (pure builders) and the FreeSWITCH executor in a real listener process
against the fake event socket: bgapi with a Job-UUID, the result from BACKGROUND_JOB, never sent
twice after a cut. (Both executors are proven on the real sandboxes:
tests/integration/test_commands.py.)"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from listener_subprocess import ListenerProcess  # type: ignore[import-not-found]
from sqlalchemy import select

from control import command_channel, db, effects
from control.models import Command, SipRegistration
from control.redis_conn import redis_client
from control.services import click_to_call, nodes, tenants, texts, users
from esl_handlers import asterisk_commands, freeswitch_commands
from esl_handlers.command_values import BadCommand
from tests.fakes.esl_server import FakeEslServer

PARAMS = {
    "domain": "acme.example.com",
    "endpoint": "1001",
    "target": "+14155550123",
    "caller_id": "+12125550100",
    "channel_id": "0123456789abcdef0123456789abcdef",
    "ring_seconds": 30,
}


def test_an_originate_as_an_ami_action_and_as_bgapi() -> None:
    action = asterisk_commands.originate(PARAMS)
    assert (
        action["Channel"] == "Local/1001@switchboard-devices" and action["Context"] == "switchboard-originate"
    )
    assert action["Exten"] == "+14155550123" and action["Async"] == "true"
    assert action["Variable"] == ["SB_ORIGINATE_EXT=1001", "SB_ORIGINATE_CID=+12125550100"]
    command = freeswitch_commands.originate(PARAMS)
    line, job = command.wire.decode().split("\n")[:2]
    assert line == (
        "bgapi originate {origination_uuid=01234567-89ab-cdef-0123-456789abcdef,"
        "origination_caller_id_number=+14155550123,originate_timeout=30,ignore_early_media=true,"
        "effective_caller_id_number=+12125550100,outbound_caller_id_number=+12125550100}"
        "user/1001@acme.example.com +14155550123 XML default"
    )
    assert job == f"Job-UUID: {command.job_uuid}" and command.wire.endswith(b"\n\n")


def test_every_device_of_the_user_rings_and_pauses_as_one_queue_member() -> None:
    """The originate, the ring test and QueuePause name the same channel the queue members are."""
    assert asterisk_commands.ring_test(PARAMS)["Channel"] == "Local/1001@switchboard-devices"
    for action in asterisk_commands.dnd(
        {"extension": "1001", "on": True, "queues": [{"extension": "700", "paused": True}]}
    )[1:]:
        assert action["Interface"] == "Local/1001@switchboard-devices" and action["Queue"] == "queue-700"
    pause = asterisk_commands.pause({"extension": "1001", "queue": "700", "paused": False})
    assert pause == [
        {
            "Action": "QueuePause",
            "Interface": "Local/1001@switchboard-devices",
            "Queue": "queue-700",
            "Paused": "false",
            "Reason": "switchboard",
        }
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        ("endpoint", "1001\r\nAction: Hangup"),
        ("target", "+1415,555"),
        ("caller_id", "+1212 555"),
        ("domain", "a b"),
        ("channel_id", "x" * 32),
    ],
)
def test_a_value_of_the_wrong_shape_is_never_sent(field: str, value: str) -> None:
    with pytest.raises(BadCommand):
        freeswitch_commands.originate(PARAMS | {field: value})
    if field != "domain":
        with pytest.raises(BadCommand):
            asterisk_commands.originate(PARAMS | {field: value})


def test_a_text_body_travels_whole_and_uninterpreted() -> None:
    body = 'Zoë said "hi", ${EXTEN}|x\nline two ' * 60
    params = {"to_kind": "number", "to": "+14155550123", "from": "+12125550100", "body": body}
    action = asterisk_commands.message(params | {"trunk_host": "127.0.0.1", "trunk_port": 5080}, 7)
    chunks = [v.split("=", 1)[1] for v in action["Variable"] if v.startswith("SB_TEXT_B64_")]
    assert all(len(chunk) <= 900 for chunk in chunks)
    assert base64.b64decode("".join(chunks)).decode() == body
    assert "SB_TEXT_TO=pjsip:switchboard-trunk/sip:+14155550123@127.0.0.1:5080" in action["Variable"]
    wire = freeswitch_commands.message(params | {"trunk_host": "127.0.0.1", "trunk_port": 5080}).wire
    head, _, sent = wire.partition(b"\n\n")
    assert sent == body.encode() and f"content-length: {len(body.encode())}".encode() in head
    with pytest.raises(BadCommand):
        asterisk_commands.message(params | {"trunk_host": "127.0.0.1", "body": "\U0001f600" * 1700}, 7)


def test_a_background_job_result_is_matched_by_its_job_uuid() -> None:
    body = b"Event-Name: BACKGROUND_JOB\nJob-UUID: abc-1\nJob-Command: originate\nContent-Length: 13\n\n-ERR NO_ROUTE"
    assert freeswitch_commands.background_job(body) == ("abc-1", "-ERR NO_ROUTE")
    assert freeswitch_commands.background_job(b"Event-Name: HEARTBEAT\n\n") is None


# --- the FreeSWITCH executor in a listener process --------------------------------------------


@pytest.fixture()
def fs_world(database_url: str) -> Iterator[tuple[FakeEslServer, int, str]]:
    node = f"fs-commands-{time.time_ns()}"
    with db.unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": "fs", "domain": "fs.switchboard.test"})
        user = users.create_user(
            s, tenant.id, {"name": "Ann", "email": "ann@fs.example", "extension": "1001"}, None
        )
        nodes.create_node(
            s,
            {
                "name": node,
                "kind": "freeswitch",
                "host": "127.0.0.1",
                "port": 8021,
                "secret": "ClueCon",
                "config_dir": "/tmp/unused",
                "tenant_id": tenant.id,
            },
            None,
        )
        s.add(SipRegistration(node=node, user_id=user.id, contact="sip:1001@127.0.0.1:5999"))
        user_id = user.id
    redis_client().delete(command_channel.stream(node))
    command_channel.register_command_handlers()
    server = FakeEslServer(bgapi_results={"originate": "+OK 0123456789abcdef\n"})
    host, port = server.start()
    listener = ListenerProcess(
        {
            "node": node,
            "pbx": "freeswitch",
            "host": host,
            "port": port,
            "secret": "ClueCon",
            "commands": True,
            "backoff_initial": 0.1,
            "command_timeout": 3.0,
        }
    )
    try:
        server.wait_for_sessions(1)
        yield server, user_id, node
    finally:
        listener.stop()
        server.stop()
        effects.clear_handlers()


def _originate(user_id: int) -> int:
    with db.unit_of_work() as s:
        me = s.get(users.User, user_id)  # type: ignore[attr-defined]
        return click_to_call.originate(s, me, {"target": "+14155550123"}).id


def _command(command_id: int) -> Command:
    with db.unit_of_work() as s:
        command = s.get(Command, command_id)
        assert command is not None
        s.expunge(command)
        return command


def _wait(what: str, probe, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_freeswitch_originate_goes_out_as_bgapi_and_records_the_job_result(fs_world) -> None:  # type: ignore[no-untyped-def]
    server, user_id, _ = fs_world
    _wait("the BACKGROUND_JOB subscription", lambda: server.commands_seen("event plain BACKGROUND_JOB"))
    command_id = _originate(user_id)
    done = _wait(
        "the command's result", lambda: (c := _command(command_id)).state in ("ok", "failed", "unknown") and c
    )
    assert done.state == "ok" and done.answer == "+OK 0123456789abcdef", done.answer
    (sent,) = server.commands_seen("bgapi originate")
    assert "user/1001@fs.switchboard.test +14155550123 XML default" in sent and "\nJob-UUID: " in sent


def test_freeswitch_text_goes_out_through_mod_sms_with_its_body(fs_world) -> None:  # type: ignore[no-untyped-def]
    server, user_id, node = fs_world
    _wait("the BACKGROUND_JOB subscription", lambda: server.commands_seen("event plain BACKGROUND_JOB"))
    with db.unit_of_work() as s:
        from control.models import Line, Tenant

        tenant = s.scalar(select(Tenant).where(Tenant.domain == "fs.switchboard.test"))
        tenant.trunk_host = "127.0.0.1"
        number = __import__("control.services.numbers", fromlist=["x"]).create_number(
            s, tenant.id, {"number": "+12125550147"}, None
        )
        line = Line(tenant_id=tenant.id, name="A", destination_kind="hangup")
        s.add(line)
        s.flush()
        number.line_id = line.id
        me = s.get(users.User, user_id)  # type: ignore[attr-defined]
        body = 'Zoë: "${x}" | a, b\nnext line'
        command_id = texts.send(s, me, {"line_id": line.id, "to": "+14155550123", "body": body}).id
    done = _wait(
        "the text's result",
        lambda: (c := _command(command_id)).state != "sending" and c.state != "queued" and c,
    )
    assert done.state == "ok", done.answer
    assert done.answer.endswith("delivered"), done.answer
    (sent,) = server.commands_seen("sendevent CUSTOM")
    assert "Event-Subclass: SMS::SEND_MESSAGE\n" in sent and f"Switchboard-Command: {command_id}\n" in sent
    assert [b.decode() for s in server.sessions for b in s.bodies] == [body]


def test_freeswitch_a_cut_before_the_job_result_is_unknown_and_never_resent(fs_world) -> None:  # type: ignore[no-untyped-def]
    server, user_id, _ = fs_world
    _wait("the BACKGROUND_JOB subscription", lambda: server.commands_seen("event plain BACKGROUND_JOB"))
    server.hold_jobs.set()
    command_id = _originate(user_id)
    _wait("the originate at the PBX", lambda: server.commands_seen("bgapi originate"))
    server.hold_jobs.clear()
    server.drop()
    done = _wait(
        "the command's end", lambda: (c := _command(command_id)).state in ("ok", "failed", "unknown") and c
    )
    assert done.state == "unknown", (done.state, done.answer)
    server.wait_for_sessions(2)
    _wait("the resubscription", lambda: len(server.commands_seen("event plain BACKGROUND_JOB")) >= 2)
    follow = _originate(user_id)
    assert _wait("the next command", lambda: (c := _command(follow)).state == "ok" and c)
    assert len(server.commands_seen("bgapi originate")) == 2, "the unknown one was not sent again"


def test_freeswitch_a_ringing_originate_holds_up_no_other_command(fs_world) -> None:  # type: ignore[no-untyped-def]
    """The first originate's result (its BACKGROUND_JOB) is long in coming, as while the phone
    rings: the next command goes out meanwhile, well before the first's send timeout (3 s)."""
    server, user_id, _ = fs_world
    _wait("the BACKGROUND_JOB subscription", lambda: server.commands_seen("event plain BACKGROUND_JOB"))
    server.hold_jobs.set()
    first = _originate(user_id)
    _wait("the first originate at the PBX", lambda: len(server.commands_seen("bgapi originate")) == 1)
    second = _originate(user_id)
    _wait(
        "the second originate at the PBX while the first rings",
        lambda: len(server.commands_seen("bgapi originate")) == 2,
        timeout=2.0,
    )
    assert _command(first).state == "sending"
    ended = [
        _wait(
            "the command's end",
            lambda c=c: (found := _command(c)).state not in ("queued", "sending") and found,
        )
        for c in (first, second)
    ]
    assert [c.state for c in ended] == ["failed", "failed"], [c.answer for c in ended]
    assert all("no answer from the PBX" in c.answer for c in ended)
    assert len(server.commands_seen("bgapi originate")) == 2, "each sent once"
