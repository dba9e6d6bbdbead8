"""GET /api/v1/calls and /api/v1/presence: filters, pagination, scoping and the computed states."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from control.db import unit_of_work
from control.models import CallRecord, Line, User
from control.services import presence, tenants
from tests.api.conftest import ApiClient, make_token


@pytest.fixture()
def history(demo: dict) -> dict:
    """Four calls of the demo tenant on two lines, with the agent on two of them."""
    t, agent = demo["tenant_id"], demo["agent_id"]
    with unit_of_work() as s:
        main, support = (
            s.scalar(select(Line.id).where(Line.tenant_id == t, Line.name == name))
            for name in ("Main line", "Support line")
        )
        rows = [
            CallRecord(tenant_id=t, call_key="missed", direction="inbound", missed=True, line_id=main,
                       caller_number="+12025550143", callee_number="+12125550100", callee_user_id=agent,
                       started_at=datetime(2026, 11, 1, 9, 0), hangup_cause="NO_ANSWER"),
            CallRecord(tenant_id=t, call_key="answered", direction="inbound", line_id=main,
                       caller_number="+12025550199", callee_number="+12125550100", answered_by_user_id=agent,
                       started_at=datetime(2026, 11, 2, 10, 0), answered_at=datetime(2026, 11, 2, 10, 0, 5),
                       ended_at=datetime(2026, 11, 2, 10, 1, 20), duration=80, billsec=75),
            CallRecord(tenant_id=t, call_key="outbound", direction="outbound", line_id=support,
                       caller_number="1002", callee_number="+14155550188",
                       started_at=datetime(2026, 11, 2, 23, 30)),
            CallRecord(tenant_id=t, call_key="internal", direction="internal", caller_number="1001",
                       callee_number="1002", started_at=datetime(2026, 11, 3, 11, 0)),
        ]  # fmt: skip
        s.add_all(rows)
        s.flush()
        ids = {row.call_key: row.id for row in rows}
    return ids | {"main": main, "support": support}


def _keys(response, history: dict) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.json
    by_id = {v: k for k, v in history.items() if k not in ("main", "support")}
    return [by_id[item["id"]] for item in response.json["items"]]


def test_calls_list_newest_first_with_every_filter(api, demo, history):
    assert _keys(api.get("/api/v1/calls"), history) == ["internal", "outbound", "answered", "missed"]
    assert _keys(api.get(f"/api/v1/calls?user_id={demo['agent_id']}"), history) == ["answered", "missed"]
    assert _keys(api.get(f"/api/v1/calls?line_id={history['support']}"), history) == ["outbound"]
    assert _keys(api.get("/api/v1/calls?direction=inbound"), history) == ["answered", "missed"]
    assert _keys(api.get("/api/v1/calls?missed=true"), history) == ["missed"]
    assert _keys(api.get("/api/v1/calls?missed=false&direction=inbound"), history) == ["answered"]
    # A bare 'until' date covers that whole day; a time is exact; an offset is converted to UTC.
    assert _keys(api.get("/api/v1/calls?since=2026-11-02&until=2026-11-02"), history) == [
        "outbound",
        "answered",
    ]
    assert _keys(api.get("/api/v1/calls?until=2026-11-02T10:00:00"), history) == ["missed"]
    assert _keys(api.get("/api/v1/calls?since=2026-11-03T00:00:00%2B01:00"), history) == [
        "internal",
        "outbound",
    ]
    assert _keys(api.get("/api/v1/calls?sort=-duration&per_page=1"), history) == ["answered"]


def test_calls_pagination_and_record_fields(api, history):
    response = api.get("/api/v1/calls?per_page=3&page=2")
    assert response.json["total"] == 4 and response.json["page"] == 2 and response.json["per_page"] == 3
    assert _keys(response, history) == ["missed"]
    record = api.get(f"/api/v1/calls/{history['answered']}").json
    assert record["direction"] == "inbound" and record["missed"] is False
    assert record["line_id"] == history["main"] and record["billsec"] == 75 and record["duration"] == 80
    assert record["started_at"].startswith("2026-11-02T10:00:00")
    assert record["answered_at"].startswith("2026-11-02T10:00:05")
    assert record["caller_number"] == "+12025550199"
    assert api.get("/api/v1/calls/999999").status_code == 404


BAD_FILTERS = (
    "since=yesterday", "until=2026-13-01", "direction=sideways", "missed=perhaps", "per_page=0",
    "per_page=201", "user_id=0", "line_id=99999999999",
)  # fmt: skip


def test_calls_refuses_bad_filters_with_422(api, history):
    for query in BAD_FILTERS:
        response = api.get(f"/api/v1/calls?{query}")
        assert response.status_code == 422 and response.is_json, (query, response.json)


def test_calls_bad_sort_names_the_allowed_ones(api, history):
    response = api.get("/api/v1/calls?sort=caller_number")
    assert response.status_code == 422
    assert "started, duration, direction" in str(response.json)


def test_calls_and_presence_are_admin_only_and_tenant_scoped(api, agent_api, app, demo, history):
    for url in ("/api/v1/calls", f"/api/v1/calls/{history['missed']}", "/api/v1/presence",
                f"/api/v1/presence/{demo['agent_id']}"):  # fmt: skip
        assert agent_api.get(url).status_code == 403, url
        assert app.test_client().get(url).status_code == 401, url
    with unit_of_work() as s:
        other = tenants.create_tenant(s, {"name": "globex", "domain": "globex.test"})
        from control.services import users

        users.create_user(
            s, other.id, {"name": "Gina", "email": "gina@globex.test", "role": "admin",
                          "password": "globex-password"}, None,
        )  # fmt: skip
    globex = ApiClient(app.test_client(), make_token("gina@globex.test"))
    assert globex.get("/api/v1/calls").json["total"] == 0
    assert globex.get(f"/api/v1/calls/{history['missed']}").status_code == 404
    assert [p["name"] for p in globex.get("/api/v1/presence").json["items"]] == ["Gina"]
    assert globex.get(f"/api/v1/presence/{demo['agent_id']}").status_code == 404


def _set(demo: dict, **line: int) -> None:
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, demo["agent_id"]), **line)


def _flag(api: ApiClient, demo: dict, body: dict) -> None:
    assert api.patch(f"/api/v1/users/{demo['agent_id']}", json=body).status_code == 200


def test_presence_follows_line_state_and_the_users_choice(api, demo):
    agent = f"/api/v1/presence/{demo['agent_id']}"
    first = api.get(agent).json
    assert first == {
        "user_id": demo["agent_id"],
        "name": "Alice Agent",
        "extension": "1001",
        "state": "offline",
        "chosen_state": "available",
        "line_state": "unregistered",
    }
    _set(demo, registrations=1)
    assert api.get(agent).json["state"] == "available"
    assert api.get(agent).json["line_state"] == "idle"
    _flag(api, demo, {"dnd": True})
    body = api.get(agent).json
    assert (body["state"], body["chosen_state"], body["line_state"]) == ("unavailable", "dnd", "idle")
    _set(demo, active_calls=1)
    body = api.get(agent).json
    assert (body["state"], body["chosen_state"], body["line_state"]) == ("in_call", "dnd", "in_call")
    _set(demo, active_calls=0)
    _flag(api, demo, {"dnd": False, "routing_paused": True})
    body = api.get(agent).json
    assert (body["state"], body["chosen_state"]) == ("unavailable", "paused")
    _flag(api, demo, {"routing_paused": False})
    assert api.get(agent).json["state"] == "available"
    _set(demo, registrations=0)
    assert api.get(agent).json["state"] == "offline"
    assert api.get("/api/v1/presence/999999").status_code == 404


def test_presence_lists_every_user_by_name_paginated(api, demo, session):
    _set(demo, registrations=2)
    names = sorted(session.scalars(select(User.name).where(User.tenant_id == demo["tenant_id"])))
    everyone = api.get("/api/v1/presence?per_page=200").json
    assert everyone["total"] == len(names) > 2
    assert [p["name"] for p in everyone["items"]] == names
    states = {p["user_id"]: p["state"] for p in everyone["items"]}
    assert states[demo["agent_id"]] == "available"
    assert set(states.values()) == {"available", "offline"}
    first, second = (api.get(f"/api/v1/presence?per_page=2&page={n}").json for n in (1, 2))
    assert [p["name"] for p in first["items"] + second["items"]] == names[:4]
    assert api.get("/api/v1/presence?page=0").status_code == 422


def test_openapi_documents_calls_and_presence(api):
    spec = api.get("/api/v1/openapi.json").json
    assert {
        "/api/v1/calls",
        "/api/v1/calls/{call_id}",
        "/api/v1/presence",
        "/api/v1/presence/{user_id}",
    } <= set(spec["paths"])
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert {"user_id", "line_id", "direction", "missed", "since", "until", "page", "per_page", "sort"} <= set(
        parameters
    )
    assert parameters["direction"]["schema"]["enum"] == ["inbound", "outbound", "internal"]
    state = spec["components"]["schemas"]["Presence"]["properties"]["state"]
    assert state["enum"] == ["offline", "available", "in_call", "unavailable"]
