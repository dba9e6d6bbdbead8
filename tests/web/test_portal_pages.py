"""The portal's history, contacts and settings pages, each for the logged-in user only."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from control.db import unit_of_work
from control.models import ApiToken, CallRecord, Contact, PhoneNumber, User
from control.passwords import verify_password
from tests.conftest import login
from tests.web.call_data import add_calls
from tests.web.portal_data import BOB, logged_in, user_id


@pytest.fixture()
def bob_client(app, demo):  # type: ignore[no-untyped-def]
    return logged_in(app, BOB, demo["password"])


def _call(demo: dict, key: str, **fields) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        s.add(
            CallRecord(
                tenant_id=demo["tenant_id"], call_key=key, started_at=datetime(2026, 3, 1, 9, 30), **fields
            )
        )


def test_history_rows(agent_client, bob_client, demo) -> None:  # type: ignore[no-untyped-def]
    alice = demo["agent_id"]
    _call(
        demo,
        "a",
        direction="inbound",
        caller_number="+12025550177",
        callee_number="1001",
        callee_user_id=alice,
        answered_by_user_id=alice,
        number_used="+12125550100",
        billsec=61,
    )
    _call(
        demo,
        "b",
        direction="outbound",
        caller_user_id=alice,
        caller_number="1001",
        callee_number="+12025550188",
        number_used="+12125550101",
        billsec=5,
    )
    _call(
        demo,
        "c",
        direction="inbound",
        missed=True,
        caller_number="+12025550199",
        callee_number="1001",
        callee_user_id=alice,
        number_used="+12125550100",
    )
    page = agent_client.get("/portal/history/").get_data(as_text=True)
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr id="history-(\d+)">(.*?)</tr>', page, re.S)}
    assert len(rows) == 3
    mum = next(r for r in rows.values() if "Mum" in r)
    assert "Inbound" in mum and "+12125550100" in mum and "01:01" in mum and "Add contact" not in mum
    out = next(r for r in rows.values() if "+12025550188" in r)
    assert "Outbound" in out and "+12125550101" in out and "00:05" in out
    assert "/portal/phonebook/new?number=%2B12025550188" in out
    missed = next(r for r in rows.values() if "+12025550199" in r)
    assert "Missed" in missed and "2026-03-01 09:30" in missed
    # live: the region reloads itself on the stream's activity messages
    assert 'data-live-refresh="activity"' in page and 'data-live-events="/live/events"' in page
    assert "history-" not in bob_client.get("/portal/history/").get_data(as_text=True).split("<tbody>")[1]
    searched = agent_client.get("/portal/history/?q=mum").get_data(as_text=True)
    assert "Mum" in searched and "+12025550188" not in searched


def test_history_pages(agent_client, demo) -> None:  # type: ignore[no-untyped-def]
    add_calls(demo["tenant_id"], 60, start=datetime(2026, 1, 1))
    first = agent_client.get("/portal/history/").get_data(as_text=True)
    assert first.count('<tr id="history-') == 50 and "Page 1 of 2" in first
    second = agent_client.get("/portal/history/?page=2").get_data(as_text=True)
    assert second.count('<tr id="history-') == 10
    assert (
        agent_client.get("/portal/history/?q=5550042").get_data(as_text=True).count('<tr id="history-') == 1
    )


def test_team_and_external_favourites_first(agent_client, bob_client, demo) -> None:  # type: ignore[no-untyped-def]
    carol = None
    with unit_of_work() as s:
        carol = s.query(User).filter_by(email="carol@acme.example").one().id
        shared = s.query(Contact).filter(Contact.owner_user_id.is_(None)).order_by(Contact.last_name).all()
        last_shared = shared[-1]
        last_id, last_name = last_shared.id, last_shared.display_name
    team = agent_client.get("/portal/contacts/team").get_data(as_text=True)
    assert team.index("Alice") < team.index("Carol Chen")
    assert "Status colours" in team and 'class="sr-only">offline' in team
    assert agent_client.post(f"/portal/contacts/team/{carol}/favourite", data={"on": "1"}).status_code == 302
    team = agent_client.get("/portal/contacts/team").get_data(as_text=True)
    assert team.index("Carol Chen") < team.index("Bob Baker")
    assert "Remove Carol Chen from favourites" in team
    # bob's list is his own
    assert bob_client.get("/portal/contacts/team").get_data(as_text=True).index("Bob Baker") < bob_client.get(
        "/portal/contacts/team"
    ).get_data(as_text=True).index("Carol Chen")

    external = agent_client.get("/portal/contacts/").get_data(as_text=True)
    first_row = re.search(r'<tr id="external-(\d+)"', external)
    assert first_row and int(first_row.group(1)) != last_id
    starred = agent_client.post(
        f"/portal/contacts/{last_id}/favourite", data={"on": "1"}, headers={"HX-Request": "true"}
    )
    assert starred.status_code == 200 and "Remove" in starred.get_data(as_text=True)
    external = agent_client.get("/portal/contacts/").get_data(as_text=True)
    assert re.search(r'<tr id="external-(\d+)"', external).group(1) == str(last_id)  # type: ignore[union-attr]
    assert last_name in external and "Edit" not in external.split("<tbody>")[1]  # read-only for agents
    assert "Mum" not in external  # a personal phonebook entry is not in the directory
    mums = next(
        c
        for c in re.findall(
            r"/portal/phonebook/(\d+)", agent_client.get("/portal/phonebook").get_data(as_text=True)
        )
    )
    assert bob_client.post(f"/portal/contacts/{mums}/favourite", data={"on": "1"}).status_code == 404


def test_settings(agent_client, app, demo) -> None:  # type: ignore[no-untyped-def]
    page = agent_client.get("/portal/settings/").get_data(as_text=True)
    assert demo["agent_email"] in page and "portal.js" in page and "data-notifications-toggle" in page

    taken = agent_client.post("/portal/settings/email", data={"email": BOB})
    assert taken.status_code == 400 and "Another user already has this email address." in taken.get_data(
        as_text=True
    )
    bad = agent_client.post("/portal/settings/email", data={"email": "nope"})
    assert bad.status_code == 400 and 'id="email-error"' in bad.get_data(as_text=True)

    wrong = agent_client.post(
        "/portal/settings/password", data={"current_password": "x", "password": "long-enough-1"}
    )
    assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.get_data(as_text=True)
    short = agent_client.post(
        "/portal/settings/password", data={"current_password": demo["password"], "password": "short"}
    )
    assert short.status_code == 400 and "at least 10 characters" in short.get_data(as_text=True)
    assert (
        agent_client.post(
            "/portal/settings/password",
            data={"current_password": demo["password"], "password": "long-enough-1"},
        ).status_code
        == 302
    )
    assert (
        agent_client.post("/portal/settings/email", data={"email": "Alice.New@acme.example"}).status_code
        == 302
    )
    assert login(app.test_client(), "alice.new@acme.example", "long-enough-1").status_code == 302

    assert agent_client.post("/portal/settings/notifications", data={}).status_code == 302
    with unit_of_work() as s:
        alice = s.get(User, demo["agent_id"])
        assert (
            alice is not None
            and alice.notifications is False
            and verify_password(alice.password_hash, "long-enough-1")
        )
    agent_client.post("/portal/settings/notifications", data={"notifications": "on"})
    with unit_of_work() as s:
        assert s.get(User, demo["agent_id"]).notifications is True  # type: ignore[union-attr]

    made = agent_client.post("/portal/settings/tokens", data={"name": "my crm"}).get_data(as_text=True)
    token = re.search(r'id="new-token" class="token" readonly value="(sb_[^"]+)"', made)
    assert token
    assert (
        app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code
        == 200
    )
    assert token.group(1) not in agent_client.get("/portal/settings/").get_data(as_text=True)  # shown once
    with unit_of_work() as s:
        token_id = s.query(ApiToken).filter_by(name="my crm").one().id
    bob = logged_in(app, BOB, demo["password"])
    assert bob.post(f"/portal/settings/tokens/{token_id}/revoke").status_code == 404
    assert agent_client.post(f"/portal/settings/tokens/{token_id}/revoke").status_code == 302
    assert (
        app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code
        == 401
    )
    assert agent_client.post("/portal/settings/tokens", data={"name": ""}).status_code == 400


def test_admins_get_the_portal_for_themselves(admin_client, demo) -> None:  # type: ignore[no-untyped-def]
    for path in (
        "/portal/phonebook",
        "/portal/history/",
        "/portal/contacts/",
        "/portal/contacts/team",
        "/portal/settings/",
    ):
        assert admin_client.get(path).status_code == 200, path
    assert "Mum" not in admin_client.get("/portal/phonebook").get_data(as_text=True)
    assert user_id(demo["admin_email"]) == demo["admin_id"]


def test_portal_needs_login(client, demo) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/portal/phonebook").status_code == 302
    assert client.get("/portal/").status_code == 302


def test_caller_id_chooser(agent_client, demo) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        ids = {n.e164: n.id for n in s.query(PhoneNumber).filter_by(tenant_id=demo["tenant_id"])}
        s.query(PhoneNumber).filter_by(e164="+18005550199").one().do_not_use = True
    page = agent_client.get("/portal/settings/").get_data(as_text=True)
    assert "Your caller ID displays as:" in page
    assert "+12125550101" in page and "+18005550199" not in page and "+442071838750" not in page  # pending
    assert (
        agent_client.post(
            "/portal/settings/caller-id", data={"caller_id_number_id": ids["+12125550101"]}
        ).status_code
        == 302
    )
    with unit_of_work() as s:
        assert s.get(User, demo["agent_id"]).caller_id_number_id == ids["+12125550101"]  # type: ignore[union-attr]
    refused = agent_client.post(
        "/portal/settings/caller-id", data={"caller_id_number_id": ids["+18005550199"]}
    )
    assert refused.status_code == 400 and "cannot be used as a caller ID" in refused.get_data(as_text=True)
    assert (
        agent_client.post("/portal/settings/caller-id", data={"caller_id_number_id": ""}).status_code == 302
    )
    with unit_of_work() as s:
        assert s.get(User, demo["agent_id"]).caller_id_number_id is None  # type: ignore[union-attr]
