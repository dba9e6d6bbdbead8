"""The diagnosis's OPTIONS ping: where a contact is pinged, the request it sends, which answers
count, and the round trip against real UDP sockets (one that answers, one that stays silent, one
where nothing listens)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from esl_handlers import contact_ping
from esl_handlers.contact_ping import Target


def test_where_a_contact_is_pinged() -> None:
    assert contact_ping.target('"1001" <sip:1001@10.0.0.7:5062;ob>') == Target(
        "sip:1001@10.0.0.7:5062;ob", "10.0.0.7", 5062
    )
    # where the PBX saw the phone (behind NAT) wins over the address the phone wrote
    assert contact_ping.target("sip:1001@192.168.1.4:5060", "203.0.113.9:40123") == Target(
        "sip:1001@192.168.1.4:5060", "203.0.113.9", 40123
    )
    assert contact_ping.target(
        "sip:1001@192.168.1.9:5060;fs_nat=yes;fs_path=<sip:1001@10.0.0.9:5060;rport>", "10.0.0.9:5060"
    ) == Target("sip:1001@192.168.1.9:5060", "10.0.0.9", 5060)
    assert contact_ping.target("sip:1001@pbx.example") == Target("sip:1001@pbx.example", "pbx.example", 5060)
    assert contact_ping.target("sip:1001@10.0.0.7:5062;transport=UDP").port == 5062  # type: ignore[union-attr]
    assert contact_ping.target("sip:abc@df7jal23ls0d.invalid;transport=ws") == "not pinged (ws phone)"
    assert contact_ping.target("sips:1001@10.0.0.7:5061") == "not pinged (tls phone)"
    assert contact_ping.target("<sip:1001@10.0.0.7;transport=tcp>") == "not pinged (tcp phone)"
    assert contact_ping.target("garbage") == "no SIP address in the contact"


def test_the_request_and_the_answers_that_count() -> None:
    where = Target("sip:1001@10.0.0.7:5062", "10.0.0.7", 5062)
    request = contact_ping.options_request(where, ("10.0.0.1", 40000), "cid1", "b" * 32).decode()
    lines = request.split("\r\n")
    assert lines[0] == "OPTIONS sip:1001@10.0.0.7:5062 SIP/2.0"
    assert f"Via: SIP/2.0/UDP 10.0.0.1:40000;branch=z9hG4bK{'b' * 32};rport" in lines
    assert "Call-ID: cid1" in lines and "CSeq: 1 OPTIONS" in lines and request.endswith("\r\n\r\n")
    assert contact_ping.response_status(b"SIP/2.0 200 OK\r\nCall-ID: cid1\r\n\r\n", "cid1") == 200
    assert contact_ping.response_status(b"SIP/2.0 405 Method Not Allowed\r\ni: cid1\r\n\r\n", "cid1") == 405
    assert contact_ping.response_status(b"SIP/2.0 200 OK\r\nCall-ID: other\r\n\r\n", "cid1") is None
    assert contact_ping.response_status(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: cid1\r\n\r\n", "cid1") is None


@pytest.fixture
def phone() -> Iterator[int]:
    """A UDP phone that answers the second OPTIONS it gets (the first is 'lost')."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)

    def answer() -> None:
        with sock:
            for attempt in range(2):
                data, peer = sock.recvfrom(65535)
                if attempt == 1:
                    call_id = next(h for h in data.decode().split("\r\n") if h.startswith("Call-ID"))
                    sock.sendto(f"SIP/2.0 200 OK\r\n{call_id}\r\nContent-Length: 0\r\n\r\n".encode(), peer)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    thread.join(timeout=5)


def test_a_phone_that_answers_a_silent_one_and_a_gone_one(phone: int) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gone.bind(("127.0.0.1", 0))
    gone_port = gone.getsockname()[1]
    gone.close()
    contacts: list[dict[str, object]] = [
        {"contact": f"sip:1001@127.0.0.1:{phone}", "ping_to": ""},
        {"contact": "sip:1001@192.0.2.1:5060", "ping_to": f"127.0.0.1:{silent.getsockname()[1]}"},
        {"contact": f"sip:1001@127.0.0.1:{gone_port}", "ping_to": ""},
        {"contact": "sip:1001@x.invalid;transport=wss", "ping_to": ""},
    ]
    started = time.monotonic()
    with silent:
        contact_ping.measure(contacts, time.time() + 1.3)  # a 1 s budget
    took = time.monotonic() - started
    answered, quiet, refused, web = contacts
    # answered the retransmission (after T1): the round trip counts from the first send
    assert answered["reachable"] is True and answered["status"] == "answered 200", answered
    assert contact_ping.T1 * 1000 <= answered["rtt_ms"] < 1000  # type: ignore[operator]
    assert quiet == {
        "contact": "sip:1001@192.0.2.1:5060",
        "reachable": False,
        "status": "no answer within 1.0 s",
        "rtt_ms": None,
    }
    assert refused["reachable"] is False and refused["rtt_ms"] is None, refused
    assert web == {
        "contact": "sip:1001@x.invalid;transport=wss",
        "reachable": None,
        "status": "not pinged (wss phone)",
        "rtt_ms": None,
    }
    assert 0.9 < took < 2, took
