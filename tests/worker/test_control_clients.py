"""The deploy jobs' ESL and AMI clients: framing, credentials, deadlines, no header injection."""

from __future__ import annotations

import socket
import threading

import pytest

from esl_handlers.esl_frames import split_frames
from tests.fakes.esl_server import FakeEslServer, fixture_bytes
from worker.ami_client import AmiClient
from worker.esl_client import EslClient
from worker.pbx_errors import PbxError, PbxUnreachable


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_esl_api_returns_the_body_of_the_recorded_response():
    expected = split_frames(fixture_bytes("api-show-channels-json.txt"))[0].body.decode()
    with FakeEslServer() as server, EslClient(*server.address, "ClueCon", timeout=5) as esl:
        assert esl.api("show channels as json") == expected
        assert esl.api("no_such_thing").startswith("-ERR no_such_thing Command not found!")
    assert server.sessions[0].commands[:2] == ["auth ClueCon", "api show channels as json"]


def test_esl_wrong_password_is_an_error_not_a_retry():
    with FakeEslServer() as server:
        with pytest.raises(PbxError, match="refused the password") as caught:
            EslClient(*server.address, "wrong", timeout=5).connect()
    assert not isinstance(caught.value, PbxUnreachable)


def test_esl_down_or_silent_is_unreachable():
    with pytest.raises(PbxUnreachable, match="Connection refused"):
        EslClient("127.0.0.1", _closed_port(), "ClueCon", timeout=2).connect()
    with FakeEslServer(api_delay=1.5) as server, EslClient(*server.address, "ClueCon", timeout=0.5) as esl:
        with pytest.raises(PbxUnreachable, match="did not answer"):
            esl.api("show channels as json")


def test_esl_commands_cannot_smuggle_a_second_line():
    with FakeEslServer() as server, EslClient(*server.address, "ClueCon", timeout=5) as esl:
        with pytest.raises(ValueError):
            esl.api("reloadxml\n\napi fsctl shutdown")
        assert esl.api("show channels as json")
    assert not any("fsctl" in command for command in server.sessions[0].commands)


def _ami_server(script: list[bytes]) -> tuple[int, list[bytes], threading.Thread]:
    """A one-connection AMI peer: sends the banner, then one scripted answer per action."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection, listener:
            connection.sendall(b"Asterisk Call Manager/11.0.0\r\n")
            buffer = b""
            for answer in script:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(4096)
                    if not chunk:
                        return
                    buffer += chunk
                action, buffer = buffer.split(b"\r\n\r\n", 1)
                received.append(action)
                action_id = [line for line in action.split(b"\r\n") if line.startswith(b"ActionID: ")][0][10:]
                connection.sendall(answer.replace(b"{id}", action_id))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], received, thread


def test_ami_collects_event_lists_and_skips_other_messages():
    port, received, thread = _ami_server(
        [
            b"Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n",
            b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
            b"Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"
            b"Event: QueueParams\r\nActionID: other\r\nQueue: not-ours\r\n\r\n"
            b"Event: QueueParams\r\nActionID: {id}\r\nQueue: queue-700\r\n\r\n"
            b"Event: QueueMember\r\nActionID: {id}\r\nLocation: PJSIP/1001\r\nPaused: 0\r\n\r\n"
            b"Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n",
            b"Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\n"
            b"Output: line one\r\nOutput: line two: with a colon\r\n\r\n",
        ]
    )
    with AmiClient("127.0.0.1", port, "switchboard", "s3cret", timeout=5) as ami:
        status = ami.action("QueueStatus", Queue="queue-700")
        assert [e["Event"] for e in status.events] == ["QueueParams", "QueueMember"]
        assert status.events[0]["Queue"] == "queue-700"
        assert ami.command("dialplan reload") == "line one\nline two: with a colon"
        with pytest.raises(ValueError):
            ami.action("Command", Command="x\r\nAction: Originate")
    thread.join(timeout=5)
    assert b"Username: switchboard\r\nSecret: s3cret\r\nEvents: off" in received[0]
    assert len(received) == 3, "the refused action was never sent"


def test_ami_refused_login_and_unreachable_host():
    port, _, thread = _ami_server(
        [b"Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"]
    )
    with pytest.raises(PbxError, match="refused: Authentication failed") as caught:
        AmiClient("127.0.0.1", port, "switchboard", "wrong", timeout=5).connect()
    assert not isinstance(caught.value, PbxUnreachable)
    thread.join(timeout=5)
    with pytest.raises(PbxUnreachable):
        AmiClient("127.0.0.1", _closed_port(), "switchboard", "x", timeout=2).connect()
