"""The diagnosis reads as the PBXs answer them: AMI PJSIPShowEndpoint, FreeSWITCH user_exists and
sofia xmlstatus (pure parsing), and the request/answer hand-over through Redis."""

from __future__ import annotations

import time

import pytest

from control import pbx_reads
from esl_handlers import asterisk_reads, freeswitch_reads
from esl_handlers.command_values import BadCommand
from tests.esl_handlers.ami_messages import parse

NOW = 1_796_556_000.0


def test_an_asterisk_endpoint_with_its_contacts() -> None:
    messages = [
        parse("Response: Success\nEventList: start\nMessage: Following are Events for each object associated with the Endpoint"),
        parse("Event: EndpointDetail\nObjectType: endpoint\nObjectName: 1001\nDeviceState: Not in use"),
        parse("Event: AorDetail\nObjectType: aor\nObjectName: 1001\nContacts: 1001/sip:1001@10.0.0.7:5062"),
        parse(
            "Event: ContactStatusDetail\nAOR: 1001\nURI: sip:1001@10.0.0.7:5062\nUserAgent: Yealink T46U\n"
            f"RegExpire: {int(NOW) + 300}\nViaAddress: 10.0.0.7:5062\nCallID: abc\nStatus: Reachable\n"
            "RoundtripUsec: 1500\nEndpointName: 1001"
        ),
        parse(
            "Event: ContactStatusDetail\nAOR: 1001\nURI: sip:1001@10.0.0.8:5060\nUserAgent: \n"
            f"RegExpire: {int(NOW) + 60}\nStatus: Unreachable\nRoundtripUsec: 0\nEndpointName: 1001"
        ),
        parse("Event: EndpointDetailComplete\nEventList: Complete\nListItems: 4"),
    ]  # fmt: skip
    answer = asterisk_reads.endpoint_answer(messages, NOW)
    assert answer["present"] is True
    assert answer["contacts"] == [
        # Asterisk's own qualify status is not taken: user AORs are not qualified, the
        # responder pings each contact (at its URI: Asterisk sends there)
        {"contact": "sip:1001@10.0.0.7:5062", "user_agent": "Yealink T46U", "source": "10.0.0.7:5062",
         "expires_in": 300, "reachable": None, "status": "not pinged", "rtt_ms": None, "ping_to": ""},
        {"contact": "sip:1001@10.0.0.8:5060", "user_agent": "", "source": "",
         "expires_in": 60, "reachable": None, "status": "not pinged", "rtt_ms": None, "ping_to": ""},
    ]  # fmt: skip


def test_an_asterisk_endpoint_that_is_not_configured() -> None:
    answer = asterisk_reads.endpoint_answer(
        [parse("Response: Error\nMessage: Unable to retrieve endpoint 1099")], NOW
    )
    assert answer == {"present": False, "contacts": [], "said": "Unable to retrieve endpoint 1099"}


def test_values_that_would_break_a_command_are_refused() -> None:
    with pytest.raises(BadCommand):
        asterisk_reads.endpoint_action({"endpoint": "1001\r\nAction: Originate"})
    with pytest.raises(BadCommand):
        freeswitch_reads.registrations_command({"endpoint": "1001", "domain": "a b"})
    assert freeswitch_reads.registrations_command({"endpoint": "1001", "domain": "x.example"}) == (
        "api sofia xmlstatus profile internal user 1001@x.example"
    )


FS_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<profile>
  <registrations>
    <registration>
      <call-id>a1</call-id>
      <user>1001@x.example</user>
      <contact>&quot;1001&quot; &lt;sip:1001@10.0.0.7:5062&gt;</contact>
      <agent>Yealink T46U</agent>
      <status>Registered(UDP)(unknown) exp(2026-12-06 16:00:00) expsecs(3652)</status>
      <ping-status>Reachable</ping-status>
      <ping-time>0.00</ping-time>
      <host>pbx</host>
      <network-ip>10.0.0.7</network-ip>
      <network-port>5062</network-port>
    </registration>
    <registration>
      <user>1001@x.example</user>
      <contact>sip:1001@192.168.1.9:5060;fs_nat=yes;fs_path=&lt;sip:1001@10.0.0.9:5060;rport&gt;</contact>
      <agent>Bria</agent>
      <status>Registered(UDP)(unknown) exp(2026-12-06 16:00:00) expsecs(100)</status>
      <ping-status>Reachable</ping-status>
      <ping-time>12.50</ping-time>
      <network-ip>10.0.0.9</network-ip>
      <network-port>5060</network-port>
    </registration>
    <registration>
      <user>10011@x.example</user>
      <contact>sip:10011@10.0.0.5</contact>
    </registration>
  </registrations>
</profile>"""


def test_freeswitch_registrations_of_exactly_the_user() -> None:
    answer = freeswitch_reads.registrations_answer("true", FS_XML, "1001", "x.example")
    assert answer["present"] is True
    assert answer["contacts"] == [
        # the profile's ping status is not taken (it does not ping): the responder pings each
        # contact where FreeSWITCH sends: its URI, or where it saw a phone behind NAT
        {"contact": '"1001" <sip:1001@10.0.0.7:5062>', "user_agent": "Yealink T46U", "source": "10.0.0.7:5062",
         "expires_in": 3652, "reachable": None, "status": "not pinged", "rtt_ms": None,
         "ping_to": ""},
        {"contact": "sip:1001@192.168.1.9:5060;fs_nat=yes;fs_path=<sip:1001@10.0.0.9:5060;rport>",
         "user_agent": "Bria", "source": "10.0.0.9:5060",
         "expires_in": 100, "reachable": None, "status": "not pinged", "rtt_ms": None,
         "ping_to": "10.0.0.9:5060"},
    ]  # fmt: skip
    missing = freeswitch_reads.registrations_answer("false", "-ERR no reply", "1001", "x.example")
    assert missing == {"present": False, "contacts": [], "said": ""}


def test_a_read_nobody_answers_times_out_and_an_answered_one_arrives() -> None:
    node = f"reads-{time.monotonic_ns()}"
    started = time.monotonic()
    assert pbx_reads.ask_all({node: {"kind": "endpoint", "endpoint": "1001"}}, timeout=0.3) == {node: None}
    assert 0.25 < time.monotonic() - started < 3
    # the listener's side: take the request, answer it
    from control.redis_conn import redis_client

    raw = redis_client().rpop(pbx_reads.requests_key(node))
    request = pbx_reads.parse_request(raw)
    assert request is None, "a request whose asker gave up is not answered"
    import threading

    def listener() -> None:
        popped = redis_client().brpop([pbx_reads.requests_key(node)], timeout=5)
        request = pbx_reads.parse_request(popped[1])
        pbx_reads.answer(redis_client(), request["id"], {"ok": True, "asked": request["endpoint"]})

    thread = threading.Thread(target=listener)
    thread.start()
    answers = pbx_reads.ask_all({node: {"kind": "endpoint", "endpoint": "1002"}}, timeout=5)
    thread.join()
    assert answers == {node: {"ok": True, "asked": "1002"}}
