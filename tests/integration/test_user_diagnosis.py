"""User diagnosis against the real PBX, on each PBX kind: the registration sipp made is read from
the live PBX through the listener (contact, user agent, source address, expiry, and reachability:
the round trip of an OPTIONS ping sent on demand; a phone gone silent shows as unreachable within
the read timeout), a user without a phone shows as not registered, "ring this phone"
gives an INVITE at sipp presented as a test call, and a node that cannot be read says so (the
page never fails)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from control import db, pbx_reads
from control.models import Command
from control.services import accounts, user_diagnosis, users
from esl_handlers import contact_ping
from esl_handlers.asterisk_commands import RING_TEST_NAME
from tests.integration.events_world import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NODE,
    EventsWorld,
    events_world,
    read,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorld]:
    with events_world(pbx_database_url, pbx, tmp_path_factory.mktemp(f"diagnosis-{pbx.kind}")) as built:
        built.register("1001", answer_after=0.3)
        yield built


@pytest.fixture(scope="module")
def clients(world: EventsWorld) -> tuple[Any, dict[str, str]]:
    from web.app import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    with db.unit_of_work() as s:
        admin = users.find_user_by_email(s, ADMIN_EMAIL)
        assert admin is not None
        token = accounts.create_token(s, admin, "diagnosis")
    client = app.test_client()
    assert client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status_code == 302
    return client, {"Authorization": f"Bearer {token}"}


def _diagnosis(clients: tuple[Any, dict[str, str]], user_id: int) -> dict[str, Any]:
    client, headers = clients
    answer = client.get(f"/api/v1/users/{user_id}/diagnosis", headers=headers)
    assert answer.status_code == 200, answer.data[:500]
    return answer.get_json()


def test_a_registered_phone_as_the_pbx_sees_it(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    world.wait_registered("1001")
    phone = world.phones["1001"]

    last: list[dict[str, Any]] = []

    def contact_seen() -> dict[str, Any] | None:
        node = _diagnosis(clients, world.user_id("1001"))["nodes"][0]
        last[:] = [node]
        if not node["contacts"]:
            return None
        return node

    try:
        node = wait_for("the registration in the diagnosis", contact_seen, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last read: {last}") from None
    assert node["name"] == NODE and node["answered"] is True and node["error"] == ""
    assert node["endpoint_present"] is True
    # (a sandbox that ran this module before may still hold an older run's contact)
    node["contacts"] = [c for c in node["contacts"] if f":{phone.port}" in c["contact"]]
    # the Asterisk world was deployed with a site override of the endpoint template (short
    # registrations) that is gone since: the node runs an older render than the model's
    assert node["current"] is (world.pbx.kind == "freeswitch"), node
    [contact] = node["contacts"]
    assert re.search(rf"sip:1001@127\.0\.0\.1:{phone.port}\b", contact["contact"]), contact
    assert contact["user_agent"] == "switchboard-sipp"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", contact["source"]), contact
    # the phone asked for 3600 s; FreeSWITCH keeps a registration a margin past its Expires
    assert 3000 < contact["expires_in"] <= (3600 if world.pbx.kind == "asterisk" else 3700)
    # Phones are not qualified by the PBX (an Asterisk restart would leave every contact
    # unavailable to queues until its first OPTIONS answer; the FreeSWITCH profile does not ping):
    # the diagnosis pings the contact now, and sipp answers
    assert contact["reachable"] is True and contact["status"] == "answered 200", contact
    assert 0 < contact["rtt_ms"] < 1000, contact

    client, _ = clients
    page = client.get(f"/users/{world.user_id('1001')}/diagnosis").data.decode()
    assert "switchboard-sipp" in page and f":{phone.port}" in page and "not registered" not in page
    assert re.search(r'<span class="badge ok">reachable</span> <span class="rtt">\d+\.\d ms</span>', page), (
        page
    )
    if world.pbx.kind == "freeswitch":
        assert "Nothing stops calls to Ann Archer" in page
    else:
        assert "events-sandbox runs an older configuration than the model: deploy" in page
    assert (
        f'href="/users/{world.user_id("1001")}/diagnosis"'
        in client.get(f"/users/{world.user_id('1001')}").data.decode()
    )


def test_an_unregistered_user_is_shown_as_such(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    diagnosis = _diagnosis(clients, world.user_id("1002"))
    [node] = diagnosis["nodes"]
    assert node["answered"] is True, node["error"]
    assert node["endpoint_present"] is True and node["contacts"] == []
    assert diagnosis["registered"] is False
    assert any("No phone of Ben Baker is registered" in f["text"] for f in diagnosis["findings"])
    client, _ = clients
    page = client.get(f"/users/{world.user_id('1002')}/diagnosis").data.decode()
    assert "not registered</span> No phone of Ben Baker is registered on events-sandbox." in page


def test_a_phone_that_stopped_answering_is_unreachable(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    # Dan's phone registers, then its sipp freezes (its socket stays open, nothing answers): the
    # ping waits its budget, no longer. Then the sipp stops without unregistering: the
    # registration stays on the PBX, nobody listens at its address any more.
    phone = world.register("1004", answer_after=0.3, expires=120)
    try:
        world.wait_registered("1004")
        os.kill(phone.uas.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            frozen = _diagnosis(clients, world.user_id("1004"))
            took = time.monotonic() - started
        finally:
            os.kill(phone.uas.process.pid, signal.SIGCONT)
        [node] = frozen["nodes"]
        assert node["answered"] is True, node["error"]
        [contact] = [c for c in node["contacts"] if f":{phone.port}" in c["contact"]]
        assert contact["reachable"] is False and contact["rtt_ms"] is None, contact
        assert contact["status"] == f"no answer within {contact_ping.BUDGET:.1f} s", contact
        assert contact_ping.BUDGET <= took < pbx_reads.TIMEOUT + 1, took

        phone.uas.stop()
        assert not phone.uas.running()
        started = time.monotonic()
        diagnosis = _diagnosis(clients, world.user_id("1004"))
        took = time.monotonic() - started
        client, _ = clients
        page = client.get(f"/users/{world.user_id('1004')}/diagnosis").data.decode()
        if world.pbx.kind == "asterisk":
            # the ping changed nothing in the PBX: the contact is still not qualified there, so
            # calls and queues treat it as before (not "Unavailable")
            [line] = [
                line
                for line in world.pbx.sandbox.cli("pjsip show contacts").splitlines()
                if f"1004@127.0.0.1:{phone.port}" in line
            ]
            assert "NonQual" in line, line
    finally:
        phone.register(expires=0)  # no dead contact left for the modules after this one
    [node] = diagnosis["nodes"]
    assert node["answered"] is True, node["error"]
    [contact] = [c for c in node["contacts"] if f":{phone.port}" in c["contact"]]
    assert re.search(rf"sip:1004@127\.0\.0\.1:{phone.port}\b", contact["contact"]), contact
    assert contact["reachable"] is False and contact["rtt_ms"] is None, contact
    assert contact["status"].startswith("no answer"), contact
    assert took < pbx_reads.TIMEOUT + 1, took
    assert any("does not answer an OPTIONS ping" in f["text"] for f in diagnosis["findings"]), diagnosis
    assert '<span class="badge failed">unreachable</span>' in page
    assert "Nothing stops calls" not in page


def test_ring_this_phone_gives_an_invite_presented_as_a_test(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    world.wait_registered("1001")
    phone = world.phones["1001"]
    invites = len(phone.invites())
    client, _ = clients
    answer = client.post(f"/users/{world.user_id('1001')}/diagnosis/ring")
    assert answer.status_code == 302
    command = wait_for(
        "the ring test command to finish",
        lambda: read(
            lambda s: s.scalar(
                select(Command).where(
                    Command.kind == "ring_test", Command.state.in_(("ok", "failed", "unknown"))
                )
            )
        ),
        timeout=20,
    )
    assert command.state == "ok", command.answer
    phone.wait_for_invites(invites + 1, timeout=15)
    invite = [m for m in phone.uas.messages() if not m.sent and m.method == "INVITE"][-1]
    assert RING_TEST_NAME in invite.headers["from"], invite.headers


def test_the_listener_answered_every_read_without_errors(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    # Reads answered and a command's outcome published from the listener's two threads: each
    # thread keeps its own Redis connection (one shared across them broke the FreeSWITCH
    # listener's read responder for good: every later diagnosis said the node did not answer).
    for _ in range(3):
        assert _diagnosis(clients, world.user_id("1001"))["nodes"][0]["answered"] is True
    log = world.listener.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]


def test_a_node_that_cannot_be_read_is_shown_not_failed(world: EventsWorld, clients) -> None:  # type: ignore[no-untyped-def]
    # The PBX takes the read and never answers: the page waits the read timeout, no longer.
    world.control_proxy.hold_replies()
    try:
        started = time.monotonic()
        node = _diagnosis(clients, world.user_id("1001"))["nodes"][0]
        took = time.monotonic() - started
    finally:
        world.control_proxy.release_replies()
    assert node["answered"] is False and node["error"].endswith("did not answer in time"), node
    assert took < pbx_reads.TIMEOUT + 3, took

    # The PBX connection is cut: the listener's heartbeat is gone, the node is not even asked.
    world.control_proxy.refuse()
    try:
        wait_for(
            "the listener to notice",
            lambda: (
                _diagnosis(clients, world.user_id("1001"))["nodes"][0]["error"]
                == user_diagnosis.NOT_LISTENING
            ),
            timeout=30,
        )
        client, _ = clients
        page = client.get(f"/users/{world.user_id('1001')}/diagnosis")
        assert page.status_code == 200
        html = page.data.decode()
        assert "no answer</span> its listener is not connected to the PBX" in html
        assert "events-sandbox could not be read (its listener is not connected to the PBX" in html
    finally:
        world.control_proxy.accept()
