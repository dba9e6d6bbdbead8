"""The user diagnosis page and service (the nodes' reads replaced by what a node would answer;
against the real PBXs: tests/integration/test_user_diagnosis.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from control import listener_status, pbx_reads
from control.db import new_session, unit_of_work, utcnow
from control.models import Command, RawEvent, SipRegistration, User
from control.services import nodes, user_diagnosis
from tests.web.call_data import add_calls
from tests.web.test_nodes import NODE

CONTACT = {
    "contact": "sip:1001@10.0.0.7:5062",
    "user_agent": "Yealink T46U",
    "source": "10.0.0.7:5062",
    "expires_in": 300,
    "reachable": True,
    "status": "answered 200",
    "rtt_ms": 1.5,
}


@pytest.fixture()
def alice(demo) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """Alice Agent (1001) on a tenant with node pbx-1, whose listener is connected."""
    with unit_of_work() as s:
        nodes.create_node(s, NODE | {"tenant_id": demo["tenant_id"]}, None)
        user_id = s.scalars(select(User.id).filter_by(tenant_id=demo["tenant_id"], extension="1001")).one()
    listener_status.beat("pbx-1", None, since=time.time(), ttl=120)
    yield user_id
    listener_status.clear("pbx-1", None)


def _answers(monkeypatch, answer: dict[str, Any] | None) -> list[dict]:  # type: ignore[no-untyped-def]
    asked: list[dict] = []

    def ask_all(questions: dict[str, dict[str, Any]], timeout: float | None = None) -> dict:
        asked.append(questions)
        return {node: answer for node in questions}

    monkeypatch.setattr(pbx_reads, "ask_all", ask_all)
    return asked


def test_a_registered_reachable_phone(admin_client, demo, alice, monkeypatch) -> None:
    asked = _answers(monkeypatch, {"ok": True, "present": True, "contacts": [CONTACT]})
    page = admin_client.get(f"/users/{alice}/diagnosis")
    assert page.status_code == 200
    html = page.data.decode()
    [questions] = asked
    assert questions["pbx-1"]["kind"] == "endpoint" and questions["pbx-1"]["endpoint"] == "1001"
    for text in (
        "sip:1001@10.0.0.7:5062",
        "Yealink T46U",
        "10.0.0.7:5062",
        "300 s",
        'reachable</span> <span class="rtt">1.5 ms</span>',
    ):
        assert text in html
    assert "present</span>" in html and "Ring this phone" in html
    assert f'href="/users/{alice}/diagnosis"' in admin_client.get(f"/users/{alice}").data.decode()


def test_an_unreachable_phone_and_one_that_cannot_be_pinged(admin_client, demo, alice, monkeypatch) -> None:
    gone = CONTACT | {"reachable": False, "status": "no answer within 2.0 s", "rtt_ms": None}
    web = CONTACT | {
        "contact": "sip:x@y.invalid;transport=ws",
        "reachable": None,
        "status": "not pinged (ws phone)",
        "rtt_ms": None,
    }
    _answers(monkeypatch, {"ok": True, "present": True, "contacts": [gone, web]})
    html = admin_client.get(f"/users/{alice}/diagnosis").data.decode()
    assert 'unreachable</span> <span class="small muted">no answer within 2.0 s</span>' in html
    assert '<span class="badge">not pinged (ws phone)</span>' in html
    assert (
        "The phone at 10.0.0.7:5062 on pbx-1 does not answer an OPTIONS ping (no answer within 2.0 s)."
        in html
    )
    assert " ms</span>" not in html


def test_a_node_that_does_not_answer_is_said_never_a_500(admin_client, demo, alice, monkeypatch) -> None:
    _answers(monkeypatch, None)
    html = admin_client.get(f"/users/{alice}/diagnosis").data.decode()
    assert "no answer</span> the node did not answer in time" in html
    assert "pbx-1 could not be read (the node did not answer in time): its registrations are unknown." in html


def test_why_a_user_gets_no_calls(demo, alice, monkeypatch) -> None:
    _answers(monkeypatch, {"ok": True, "present": False, "contacts": []})
    with unit_of_work() as s:
        user = s.get(User, alice)
        user.dnd, user.routing_paused = True, True
    s = new_session()
    try:
        found = [f.text for f in user_diagnosis.diagnose(s, demo["tenant_id"], alice).findings]
    finally:
        s.close()
    assert "Calls are not routed to Alice Agent (paused): activate them on the users page." in found
    assert "Do Not Disturb is on: Alice Agent's phone does not ring." in found
    assert "pbx-1 does not know extension 1001: deploy the configuration." in found
    assert (
        "No phone of Alice Agent is registered on any node: check the phone's SIP account and network."
        in found
    )


def test_last_calls_and_presence_today(demo, alice, monkeypatch) -> None:
    _answers(monkeypatch, {"ok": True, "present": True, "contacts": []})
    add_calls(demo["tenant_id"], 3, start=utcnow() - timedelta(minutes=10))
    now = time.time()
    with unit_of_work() as s:
        for index, (kind, payload) in enumerate(
            [
                ("Registration", {"extension": "1001", "state": "registered", "network_ip": "10.0.0.7"}),
                ("DeviceState", {"extension": "1001", "state": "in_use"}),
                ("DeviceState", {"extension": "1002", "state": "ringing"}),  # someone else
                ("Registration", {"extension": "1001", "state": "unregistered"}),
            ]
        ):
            s.add(
                RawEvent(
                    node="pbx-1",
                    event_id=f"e{index}",
                    kind=kind,
                    occurred_at=now - 60 + index,
                    payload=payload,
                )
            )
        s.add(RawEvent(node="pbx-1", event_id="old", kind="Registration", occurred_at=now - 3 * 86400,
                       payload={"extension": "1001", "state": "registered"}))  # fmt: skip
    s = new_session()
    try:
        diagnosis = user_diagnosis.diagnose(s, demo["tenant_id"], alice)
    finally:
        s.close()
    assert [(c.outcome, c.hangup_cause) for c in diagnosis.last_calls] == [
        ("missed", "NO_ANSWER"),
        ("answered", "NORMAL_CLEARING"),
        ("missed", "NO_ANSWER"),
    ]
    assert [c.what for c in diagnosis.presence_today] == [
        "phone unregistered",
        "line in use",
        "phone registered from 10.0.0.7",
    ]


def test_ring_this_phone(admin_client, demo, alice, monkeypatch) -> None:
    _answers(monkeypatch, None)
    refused = admin_client.post(f"/users/{alice}/diagnosis/ring", follow_redirects=True).data.decode()
    assert (
        "The test call could not be placed: no registered phone (Alice Agent has no phone registered now.)"
        in refused
    )
    with unit_of_work() as s:
        s.add(SipRegistration(node="pbx-1", user_id=alice, contact="sip:1001@10.0.0.7:5062", expires_at=None))
    placed = admin_client.post(f"/users/{alice}/diagnosis/ring", follow_redirects=True).data.decode()
    assert "Ringing extension 1001 as" in placed
    s = new_session()
    try:
        [command] = s.scalars(select(Command)).all()
    finally:
        s.close()
    assert (command.kind, command.node, command.user_id, command.params["endpoint"]) == (
        "ring_test",
        "pbx-1",
        alice,
        "1001",
    )


def test_agents_have_no_diagnosis(agent_client, demo, alice) -> None:
    assert agent_client.get(f"/users/{alice}/diagnosis").status_code == 403
    assert agent_client.post(f"/users/{alice}/diagnosis/ring").status_code == 403


def test_a_node_whose_listener_is_not_connected_is_not_asked(admin_client, demo, alice, monkeypatch) -> None:
    asked = _answers(monkeypatch, {"ok": True, "present": True, "contacts": [CONTACT]})
    listener_status.clear("pbx-1", None)
    started = time.monotonic()
    html = admin_client.get(f"/users/{alice}/diagnosis").data.decode()
    assert time.monotonic() - started < pbx_reads.TIMEOUT
    assert asked == []
    assert f"no answer</span> {user_diagnosis.NOT_LISTENING}" in html
