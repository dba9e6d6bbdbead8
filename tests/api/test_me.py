"""/api/v1/me: the token user's phonebook, history, favourites and settings, never anyone else's."""

from __future__ import annotations

from datetime import datetime

import pytest

from control.db import unit_of_work
from control.models import CallRecord, Contact
from tests.api.conftest import ApiClient, make_token
from tests.web.portal_data import BOB, user_id


@pytest.fixture()
def bob_api(app, demo) -> ApiClient:  # type: ignore[no-untyped-def]
    return ApiClient(app.test_client(), make_token(BOB))


def test_phonebook_crud_and_isolation(agent_api: ApiClient, bob_api: ApiClient) -> None:
    created = agent_api.post("/api/v1/me/phonebook", json={"name": "Vet", "number": "+1 202 555 0166"})
    assert created.status_code == 201, created.json
    entry = created.json
    assert (entry["name"], entry["number"], entry["email"]) == ("Vet", "+12025550166", "")
    bobs = bob_api.post("/api/v1/me/phonebook", json={"name": "Bob Vet", "number": "+12025550167"}).json

    listed = agent_api.get("/api/v1/me/phonebook").json
    names = [item["name"] for item in listed["items"]]
    assert "Vet" in names and "Mum" in names and "Bob Vet" not in names
    assert [i["name"] for i in agent_api.get("/api/v1/me/phonebook?q=0166").json["items"]] == ["Vet"]

    patched = agent_api.patch(f"/api/v1/me/phonebook/{entry['id']}", json={"email": "vet@example.com"})
    assert patched.status_code == 200 and patched.json["email"] == "vet@example.com"

    for method in ("get", "patch", "delete"):
        kwargs = {"json": {"name": "stolen"}} if method == "patch" else {}
        response = getattr(agent_api, method)(f"/api/v1/me/phonebook/{bobs['id']}", **kwargs)
        assert response.status_code == 404, (method, response.json)
    with unit_of_work() as s:
        kept = s.get(Contact, bobs["id"])
        assert kept is not None and kept.display_name == "Bob Vet"

    assert agent_api.delete(f"/api/v1/me/phonebook/{entry['id']}").status_code == 204
    assert agent_api.get(f"/api/v1/me/phonebook/{entry['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "X", "number": "12"}, 422, "number"),
        ({"name": "", "number": "+12025550166"}, 422, "name"),
        ({"number": "+12025550166"}, 422, "name"),
        ({"name": "X", "number": "+12025550166", "owner_user_id": 1}, 422, "owner_user_id"),
        ({"name": 5, "number": "+12025550166"}, 422, "name"),
    ],
)
def test_phonebook_refuses_bad_input_naming_the_field(agent_api: ApiClient, body, status, field) -> None:  # type: ignore[no-untyped-def]
    response = agent_api.post("/api/v1/me/phonebook", json=body)
    assert response.status_code == status, response.json
    assert field in response.json["errors"], response.json


def test_history_is_the_users_own_with_phonebook_names(
    agent_api: ApiClient, bob_api: ApiClient, demo
) -> None:  # type: ignore[no-untyped-def]
    alice, bob = demo["agent_id"], user_id(BOB)
    started = datetime(2026, 3, 1, 9, 30)
    with unit_of_work() as s:
        for key, caller_user, callee_user, number_from, number_to, used, missed in (
            ("in", None, alice, "+12025550177", "1001", "+12125550100", False),
            ("out", alice, None, "1001", "+12025550188", "+12125550101", False),
            ("miss", None, alice, "+12025550199", "1001", "+12125550100", True),
            ("bob", None, bob, "+12025550155", "1002", "+12125550100", False),
        ):
            s.add(
                CallRecord(
                    tenant_id=demo["tenant_id"],
                    call_key=key,
                    direction="outbound" if caller_user else "inbound",
                    missed=missed,
                    caller_user_id=caller_user,
                    callee_user_id=callee_user,
                    answered_by_user_id=None if missed else callee_user,
                    caller_number=number_from,
                    callee_number=number_to,
                    number_used=used,
                    started_at=started,
                    billsec=0 if missed else 125,
                )
            )
    items = agent_api.get("/api/v1/me/history").json["items"]
    by_kind = {item["kind"]: item for item in items}
    assert set(by_kind) == {"inbound", "outbound", "missed"}
    assert by_kind["inbound"]["name"] == "Mum" and by_kind["inbound"]["contact_id"] is not None
    assert by_kind["inbound"]["line"] == "+12125550100" and by_kind["inbound"]["duration"] == "02:05"
    assert by_kind["outbound"]["number"] == "+12025550188" and by_kind["outbound"]["line"] == "+12125550101"
    assert by_kind["missed"]["name"] == "+12025550199" and by_kind["missed"]["duration"] == "00:00"
    assert [i["kind"] for i in agent_api.get("/api/v1/me/history?q=mum").json["items"]] == ["inbound"]
    assert [i["kind"] for i in agent_api.get("/api/v1/me/history?q=0188").json["items"]] == ["outbound"]
    assert [i["number"] for i in bob_api.get("/api/v1/me/history").json["items"]] == ["+12025550155"]


def test_favourites_and_their_limits(agent_api: ApiClient, bob_api: ApiClient, demo) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        shared = s.query(Contact).filter(Contact.owner_user_id.is_(None)).first()
        assert shared is not None
        shared_id = shared.id
    bob = user_id(BOB)
    assert agent_api.put(f"/api/v1/me/favourites/contacts/{shared_id}").status_code == 204
    assert agent_api.put(f"/api/v1/me/favourites/users/{bob}").status_code == 204
    assert agent_api.get("/api/v1/me/favourites").json == {"contact_ids": [shared_id], "user_ids": [bob]}
    assert bob_api.get("/api/v1/me/favourites").json == {"contact_ids": [], "user_ids": []}
    # another user's phonebook entry cannot be starred (nor seen)
    mums = agent_api.get("/api/v1/me/phonebook?q=mum").json["items"][0]["id"]
    assert bob_api.put(f"/api/v1/me/favourites/contacts/{mums}").status_code == 404
    assert agent_api.delete(f"/api/v1/me/favourites/users/{bob}").status_code == 204
    assert agent_api.get("/api/v1/me/favourites").json["user_ids"] == []


def test_settings_password_and_tokens(agent_api: ApiClient, bob_api: ApiClient, demo, app) -> None:  # type: ignore[no-untyped-def]
    me = agent_api.get("/api/v1/me").json
    assert me["email"] == demo["agent_email"] and me["role"] == "agent"
    assert agent_api.patch("/api/v1/me", json={"notifications": False}).json["notifications"] is False
    taken = agent_api.patch("/api/v1/me", json={"email": BOB})
    assert taken.status_code == 422 and "email" in taken.json["errors"]

    wrong = agent_api.post("/api/v1/me/password", json={"current_password": "nope", "password": "x" * 12})
    assert wrong.status_code == 422 and "current_password" in wrong.json["errors"]
    short = agent_api.post(
        "/api/v1/me/password", json={"current_password": demo["password"], "password": "short"}
    )
    assert short.status_code == 422 and "password" in short.json["errors"]
    ok = agent_api.post(
        "/api/v1/me/password", json={"current_password": demo["password"], "password": "a-new-long-one"}
    )
    assert ok.status_code == 204

    token = agent_api.post("/api/v1/me/tokens", json={"name": "crm"}).json["token"]
    fresh = ApiClient(app.test_client(), token)
    assert fresh.get("/api/v1/me").json["id"] == me["id"]
    listed = agent_api.get("/api/v1/me/tokens").json
    crm = next(t for t in listed if t["name"] == "crm")
    assert "token" not in crm and "digest" not in crm
    assert bob_api.delete(f"/api/v1/me/tokens/{crm['id']}").status_code == 404
    assert agent_api.delete(f"/api/v1/me/tokens/{crm['id']}").status_code == 204
    assert fresh.get("/api/v1/me").status_code == 401


def test_me_is_in_the_openapi_document(agent_api: ApiClient) -> None:
    paths = agent_api.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/me",
        "/api/v1/me/phonebook",
        "/api/v1/me/phonebook/{contact_id}",
        "/api/v1/me/history",
        "/api/v1/me/favourites",
        "/api/v1/me/tokens",
        "/api/v1/me/password",
    ):
        assert path in paths, path


def test_caller_id(agent_api: ApiClient, demo) -> None:  # type: ignore[no-untyped-def]
    choices = {c["number"]: c["id"] for c in agent_api.get("/api/v1/me/caller-ids").json}
    assert "+12125550101" in choices and "+442071838750" not in choices
    chosen = agent_api.patch("/api/v1/me", json={"caller_id_number_id": choices["+12125550101"]})
    assert chosen.status_code == 200 and chosen.json["caller_id_number_id"] == choices["+12125550101"]
    other = agent_api.patch("/api/v1/me", json={"caller_id_number_id": 999999})
    assert other.status_code == 422 and "caller_id_number_id" in other.json["errors"]
    assert (
        agent_api.patch("/api/v1/me", json={"caller_id_number_id": None}).json["caller_id_number_id"] is None
    )
