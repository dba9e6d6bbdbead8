"""The admin dashboard: today's calls, live calls, phones, PBX nodes, latest activity."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from control.db import new_session, unit_of_work, utcnow
from control.models import CallRecord, LiveChannel, PresenceState, Tenant, User
from control.services import dashboard, deploys, nodes
from tests.web.call_data import add_calls
from tests.web.test_nodes import NODE


def test_calls_today_counts_answered_missed_and_the_average_wait(demo) -> None:
    t = demo["tenant_id"]
    now = utcnow()
    add_calls(t, 6, start=dashboard.day_start(now) + timedelta(minutes=1), step=timedelta(seconds=1))
    add_calls(t, 4, start=dashboard.day_start(now) - timedelta(hours=3))  # yesterday: not counted
    with unit_of_work() as s:
        s.add(  # answered after 30 s: the average of 12, 12, 12 and 30 s is 16.5 s
            CallRecord(
                tenant_id=t,
                call_key="slow",
                direction="inbound",
                caller_number="+12025550100",
                callee_number="+12125550100",
                started_at=dashboard.day_start(now) + timedelta(minutes=2),
                answered_at=dashboard.day_start(now) + timedelta(minutes=2, seconds=30),
            )
        )
        other = Tenant(name="other", domain="other.example")
        s.add(other)
        s.flush()
        s.add(  # another tenant's call today
            CallRecord(
                tenant_id=other.id,
                call_key="theirs",
                direction="inbound",
                caller_number="1",
                callee_number="2",
                started_at=dashboard.day_start(now) + timedelta(minutes=3),
                missed=True,
            )
        )
    s = new_session()
    try:
        today = dashboard.calls_today(s, t, now=max(now, dashboard.day_start(now) + timedelta(minutes=5)))
    finally:
        s.close()
    assert (today.answered, today.missed, today.total) == (4, 3, 7)
    assert today.average_wait == 16.5


def test_live_calls_group_channels_per_call_and_stay_in_the_tenant(demo) -> None:
    t = demo["tenant_id"]
    now = time.time()
    with unit_of_work() as s:
        nodes.create_node(s, NODE | {"tenant_id": t}, None)
        other = Tenant(name="other", domain="other.example")
        s.add(other)
        s.flush()
        nodes.create_node(s, NODE | {"name": "theirs", "tenant_id": other.id}, None)
        agent = s.query(User).filter_by(tenant_id=t, extension="1001").one()
        bob = s.query(User).filter_by(tenant_id=t, extension="1002").one()
        s.add_all(
            [
                LiveChannel(node="pbx-1", call_id="a", call_key="k1", user_id=agent.id, answered=True, started_at=now - 90),
                LiveChannel(node="pbx-1", call_id="b", call_key="k1", user_id=bob.id, answered=True, started_at=now - 95),
                LiveChannel(node="pbx-1", call_id="c", call_key="k2", user_id=None, answered=False, started_at=now - 5),
                LiveChannel(node="theirs", call_id="d", call_key="k3", user_id=None, answered=True, started_at=now - 5),
            ]
        )  # fmt: skip
    s = new_session()
    try:
        calls = dashboard.live_calls(s, s.get(User, demo["admin_id"]), now=now)
    finally:
        s.close()
    assert [(c.call_key, sorted(c.people), sorted(c.leg_ids), c.answered, c.seconds) for c in calls] == [
        ("k1", ["Alice Agent", "Bob Baker"], ["a", "b"], True, 95),
        ("k2", [], ["c"], False, 5),
    ]
    assert calls[0].channels == 2
    assert [leg.who for leg in calls[0].legs] == ["Bob Baker", "Alice Agent"]  # the caller first
    assert [leg.who for leg in calls[1].legs] == ["Outside party"]


def test_phones_and_node_states(demo) -> None:
    t = demo["tenant_id"]
    with unit_of_work() as s:
        agent = s.query(User).filter_by(tenant_id=t, extension="1001").one()
        s.add(PresenceState(user_id=agent.id, line_state="registered", registrations=1))
        node = nodes.create_node(s, NODE | {"tenant_id": t}, None)
        node.live_version = 4
        record = deploys.request_deploy(s, node.id, None, tenant_id=t, source="admin")
        record.result, record.finished_at = "done", datetime(2026, 11, 5, 9, 0)
    s = new_session()
    try:
        phones = dashboard.phones(s, t)
        states = dashboard.node_states(s, t)
    finally:
        s.close()
    assert phones.registered == ["Alice Agent"]
    assert "Alice Agent" not in phones.offline and len(phones.offline) == 5
    assert [(n.name, n.live_version, n.last_deploy["result"], n.last_deploy["at"]) for n in states] == [
        ("pbx-1", 4, "done", datetime(2026, 11, 5, 9, 0))
    ]


def test_dashboard_page(admin_client, agent_client, demo) -> None:
    add_calls(demo["tenant_id"], 3, start=utcnow() - timedelta(minutes=10))
    page = admin_client.get("/").data.decode()
    assert '<span class="value" id="calls-today">3</span>' in page
    assert '<span class="value" id="calls-missed">2</span>' in page
    assert 'data-live-refresh="activity presence command"' in page
    assert "Caller 2" in page  # the latest activity
    assert "No calls right now." in page and "No PBX nodes yet." in page
    # an agent gets their own page, never the tenant's figures
    own = agent_client.get("/").data.decode()
    assert "calls-today" not in own and "My activity" in own


def test_ago() -> None:
    now = datetime(2026, 11, 5, 12, 0)
    assert [dashboard.ago(now - delta, now) for delta in (
        timedelta(seconds=5), timedelta(minutes=5), timedelta(hours=3), timedelta(days=2)
    )] == ["just now", "5 min ago", "3 h ago", "2 d ago"]  # fmt: skip


def test_latest_activity_lists_each_call_once(demo) -> None:
    add_calls(demo["tenant_id"], 5, start=utcnow() - timedelta(minutes=10))  # each: a user and a line item
    s = new_session()
    try:
        latest = dashboard.latest_activity(s, demo["tenant_id"], count=3)
    finally:
        s.close()
    assert [call.caller_name for _, call in latest] == ["Caller 4", "Caller 3", "Caller 2"]
    assert all(item.user_id is not None for item, _ in latest)
