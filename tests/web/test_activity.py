"""Activity pages, the call page, the agent's own history and the live presence hookup."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import orjson
import pytest
from sqlalchemy import select

from control import effects, live
from control.db import engine, unit_of_work
from control.models import ActivityItem, CallRecord, Line, User
from control.redis_conn import redis_client
from control.services import presence, users
from web.app import create_app
from web.auth import ADMIN_BLUEPRINTS, PUBLIC_ENDPOINTS, SELF_AUTHENTICATING_BLUEPRINTS
from web.views import live as live_view


@pytest.fixture()
def activity(demo: dict) -> dict:
    """A missed inbound call to the agent on the main line, an answered one, and another user's outbound call."""
    t, agent = demo["tenant_id"], demo["agent_id"]
    with unit_of_work() as s:
        main, support = (
            s.scalar(select(Line.id).where(Line.tenant_id == t, Line.name == name))
            for name in ("Main line", "Support line")
        )
        bob = s.scalar(select(User.id).where(User.tenant_id == t, User.extension == "1002"))
        missed = CallRecord(
            tenant_id=t,
            call_key="m",
            direction="inbound",
            missed=True,
            line_id=main,
            caller_number="+12025550143",
            caller_name="Carol Client",
            callee_number="+12125550100",
            callee_user_id=agent,
            started_at=datetime(2026, 11, 1, 9, 0),
            hangup_cause="NO_ANSWER",
        )
        answered = CallRecord(
            tenant_id=t,
            call_key="a",
            direction="inbound",
            line_id=main,
            caller_number="+12025550177",
            callee_number="+12125550100",
            answered_by_user_id=agent,
            started_at=datetime(2026, 11, 2, 10, 0),
            billsec=75,
            duration=80,
        )
        outbound = CallRecord(
            tenant_id=t,
            call_key="o",
            direction="outbound",
            line_id=support,
            caller_user_id=bob,
            caller_number="1002",
            callee_number="+14155550188",
            started_at=datetime(2026, 11, 3, 11, 0),
        )
        s.add_all([missed, answered, outbound])
        s.flush()
        items = {}
        for key, call, kind, user_id in (
            ("missed", missed, "missed", agent),
            ("answered", answered, "answered", agent),
            ("outbound", outbound, "outbound", bob),
        ):
            for suffix, u, line in (("user", user_id, None), ("line", None, call.line_id)):
                item = ActivityItem(
                    tenant_id=t,
                    kind=kind,
                    user_id=u,
                    line_id=line,
                    call_record_id=call.id,
                    created_at=call.started_at,
                )
                s.add(item)
                s.flush()
                items[f"{key}_{suffix}"] = item.id
        ids = {"missed": missed.id, "answered": answered.id, "outbound": outbound.id}
    return {"calls": ids, "items": items, "main": main, "support": support, "bob": bob}


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr id="activity-(\d+)"', page)


def test_admin_filters_activity_by_line_and_user(admin_client, demo, activity):
    items = activity["items"]
    page = admin_client.get("/activity/").data.decode()
    assert len(_rows(page)) == 6
    by_line = admin_client.get(f"/activity/?line_id={activity['main']}").data.decode()
    assert _rows(by_line) == [str(items["answered_line"]), str(items["missed_line"])]
    assert "Activity of Main line" in by_line
    by_user = admin_client.get(f"/activity/?user_id={demo['agent_id']}").data.decode()
    assert _rows(by_user) == [str(items["answered_user"]), str(items["missed_user"])]
    assert "Activity of Alice Agent" in by_user
    assert f'href="/calls/{activity["calls"]["missed"]}"' in by_user
    assert "Carol Client" in by_user and "1:15" in by_user
    assert admin_client.get("/activity/?user_id=999999").status_code == 404


def test_users_and_lines_pages_link_to_their_activity(admin_client, demo, activity):
    assert f'href="/activity/?user_id={demo["agent_id"]}"' in admin_client.get("/users/").data.decode()
    assert f'href="/activity/?line_id={activity["main"]}"' in admin_client.get("/lines/").data.decode()
    assert (
        f'href="/activity/?user_id={demo["agent_id"]}"'
        in admin_client.get(f"/users/{demo['agent_id']}").data.decode()
    )
    assert (
        f'href="/activity/?line_id={activity["main"]}"'
        in admin_client.get(f"/lines/{activity['main']}").data.decode()
    )


def test_archive_over_htmx_hides_the_item_until_archived_are_shown(admin_client, demo, activity, session):
    item = activity["items"]["missed_line"]
    url = f"/activity/?line_id={activity['main']}"
    page = admin_client.get(url).data.decode()
    assert f'hx-post="/activity/{item}/archive"' in page and 'name="csrf_token"' in page
    response = admin_client.post(f"/activity/{item}/archive", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.data == b""
    assert str(item) not in _rows(admin_client.get(url).data.decode())
    shown = admin_client.get(url + "&archived=1").data.decode()
    assert str(item) in _rows(shown) and "archived</span>" in shown
    # The call record stays in the history; only this item is hidden.
    assert admin_client.get(f"/calls/{activity['calls']['missed']}").status_code == 200
    assert session.get(ActivityItem, activity["items"]["missed_user"]).archived is False
    # While archived items are shown, the row comes back marked rather than disappearing.
    other = activity["items"]["answered_line"]
    response = admin_client.post(
        f"/activity/{other}/archive", data={"archived": "1"}, headers={"HX-Request": "true"}
    )
    assert f'id="activity-{other}"' in response.data.decode() and "archived</span>" in response.data.decode()
    # Without htmx: a redirect back to the activity page.
    third = activity["items"]["outbound_line"]
    response = admin_client.post(f"/activity/{third}/archive", headers={"Referer": "http://localhost" + url})
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    assert admin_client.post("/activity/999999/archive").status_code == 404


@pytest.fixture()
def csrf_app(database_url: str):  # type: ignore[no-untyped-def]
    app = create_app({"TESTING": True})  # WTF_CSRF_ENABLED stays on
    yield app
    effects.clear_handlers()


def test_archive_needs_a_csrf_token(csrf_app, demo, activity):
    client = csrf_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").data.decode()).group(1)
    client.post(
        "/login", data={"email": demo["admin_email"], "password": demo["password"], "csrf_token": token}
    )
    item = activity["items"]["missed_user"]
    assert client.post(f"/activity/{item}/archive", headers={"HX-Request": "true"}).status_code == 400
    page = client.get("/activity/").data.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post(f"/activity/{item}/archive", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and response.data == b""


def test_call_page_names_everyone_and_its_activity(admin_client, demo, activity):
    page = admin_client.get(f"/calls/{activity['calls']['answered']}").data.decode()
    assert "Main line" in page and "Alice Agent" in page and "+12025550177" in page
    assert f'href="/users/{demo["agent_id"]}"' in page and "talk 1:15" in page
    assert page.count('<span class="badge">answered</span>') == 2
    listing = admin_client.get("/calls/").data.decode()
    assert f'href="/calls/{activity["calls"]["answered"]}"' in listing
    assert admin_client.get("/calls/999999").status_code == 404


def test_agent_sees_only_their_own_activity_and_calls(agent_client, demo, activity):
    items = activity["items"]
    page = agent_client.get("/activity/").data.decode()
    assert "My activity" in page
    assert _rows(page) == [str(items["answered_user"]), str(items["missed_user"])]
    # Filters for other people or lines are ignored for an agent.
    assert _rows(agent_client.get(f"/activity/?user_id={activity['bob']}").data.decode()) == _rows(page)
    assert _rows(agent_client.get(f"/activity/?line_id={activity['support']}").data.decode()) == _rows(page)
    assert f'href="/activity/calls/{activity["calls"]["missed"]}"' in page
    assert 'href="/calls/' not in page
    own = agent_client.get(f"/activity/calls/{activity['calls']['missed']}")
    assert own.status_code == 200 and "NO_ANSWER" in own.data.decode()
    assert 'href="/users/' not in own.data.decode()
    assert agent_client.get(f"/activity/calls/{activity['calls']['outbound']}").status_code == 404
    assert agent_client.get(f"/calls/{activity['calls']['missed']}").status_code == 403
    history = agent_client.get("/activity/calls").data.decode()
    assert history.count('<tr id="call-') == 2 and "+14155550188" not in history
    assert agent_client.post(f"/activity/{items['outbound_user']}/archive").status_code == 404
    assert agent_client.post(f"/activity/{items['missed_line']}/archive").status_code == 404
    assert agent_client.post(f"/activity/{items['missed_user']}/archive").status_code == 302
    assert str(items["missed_user"]) not in _rows(agent_client.get("/activity/").data.decode())
    dashboard = agent_client.get("/").data.decode()
    assert 'href="/activity/"' in dashboard and 'href="/activity/calls"' in dashboard


def _sample_url(rule) -> str:  # type: ignore[no-untyped-def]
    url = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", rule.rule)
    return re.sub(r"<[^>]+>", "1", url)


def test_every_page_needs_a_login_and_admin_areas_refuse_agents(app, client, agent_client, demo):
    checked = 0
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        if rule.endpoint in PUBLIC_ENDPOINTS or blueprint in SELF_AUTHENTICATING_BLUEPRINTS:
            continue
        url = _sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)
            if blueprint in ADMIN_BLUEPRINTS:
                assert agent_client.open(url, method=method).status_code == 403, (method, url)
            checked += 1
    assert checked > 50
    assert {"activity", "live"}.isdisjoint(ADMIN_BLUEPRINTS) and "calls" in ADMIN_BLUEPRINTS


def test_users_and_team_pages_carry_the_live_hookup(admin_client, demo):
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, demo["agent_id"]), registrations=1, active_calls=1)
    for url in ("/users/", "/contacts/team"):
        page = admin_client.get(url).data.decode()
        assert 'data-live-events="/live/events"' in page
        assert '<script src="/static/app.js?v=' in page
        assert f'data-presence-user="{demo["agent_id"]}" data-presence="in_call"' in page
    script = admin_client.get("/static/app.js").data.decode()
    assert "new EventSource(hook ? hook.dataset.liveEvents" in script and "data-presence-user" in script


def _next_message(chunks) -> dict:  # type: ignore[no-untyped-def]
    """The next data message of the stream (keep-alive comments are skipped)."""
    for chunk in chunks:
        if chunk.startswith(b"data: "):
            return orjson.loads(chunk[6:].strip())
    raise AssertionError("the stream ended")


@pytest.fixture()
def private_channel(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], str]:
    """A channel name of this test's own: other engineers' suites publish for tenant 1 on the same Redis."""
    prefix = f"switchboard:test:{uuid.uuid4().hex}:"

    def name(tenant_id: int) -> str:
        return f"{prefix}{tenant_id}"

    monkeypatch.setattr(live, "channel", name)
    monkeypatch.setattr(live_view, "channel", name)
    return name


def _subscribed(name: str) -> None:
    deadline = time.monotonic() + 5
    while dict(redis_client().pubsub_numsub(name)).get(name.encode(), 0) < 1:
        assert time.monotonic() < deadline, "the stream never subscribed"
        time.sleep(0.01)


def test_presence_and_activity_changes_reach_the_event_stream(admin_client, demo, activity, private_channel):
    response = admin_client.get("/live/events", buffered=False)
    try:
        chunks = iter(response.response)
        assert b"connected" in next(chunks)
        _subscribed(private_channel(demo["tenant_id"]))
        # The open stream holds no database connection.
        assert engine().pool.checkedout() == 0
        agent = demo["agent_id"]
        started = time.monotonic()

        def change() -> None:
            with unit_of_work() as s:
                presence.set_line_state(s, s.get(User, agent), registrations=1)
            with unit_of_work() as s:
                users.set_flag(s, demo["tenant_id"], agent, "dnd", True, None)
            with unit_of_work() as s:
                effects.record(s, effects.ActivityAdded(demo["tenant_id"], activity["items"]["missed_user"]))

        threading.Thread(target=change).start()
        messages = [_next_message(chunks) for _ in range(3)]
        elapsed = time.monotonic() - started
    finally:
        response.close()
    assert [(m["type"], m.get("user_id"), m.get("state"), m.get("line_state")) for m in messages[:2]] == [
        ("presence", agent, "available", "idle"),
        ("presence", agent, "unavailable", "idle"),
    ]
    assert messages[2]["type"] == "activity"
    assert messages[2]["activity_id"] == activity["items"]["missed_user"]
    assert elapsed < 1.0


def test_activity_page_refreshes_itself_from_the_stream(admin_client, demo, activity):
    page = admin_client.get("/activity/").data.decode()
    assert 'id="activity-results" data-live-events="/live/events" data-live-refresh="activity"' in page
