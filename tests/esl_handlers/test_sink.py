"""The database sink on the byte-exact FreeSWITCH captures: records, presence, activity."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from wire_captures import capture_tenant, normalised

from control.db import unit_of_work
from control.models import ActivityItem, CallRecord, PresenceState, RawEvent, User
from esl_handlers.sink import DatabaseSink


@pytest.fixture()
def fs_tenant(database_url) -> dict:
    """The capture's world: domain 192.0.2.2, users 1000 (Alice) and 1001, queue support = 7000."""
    return capture_tenant()


@pytest.fixture()
def sink(fs_tenant, tmp_path):
    sink = DatabaseSink(tmp_path / "spool", publish=False)
    yield sink
    sink.close()


def feed(sink: DatabaseSink, events: list) -> None:
    for event in events:
        sink.submit(event)
    assert sink.drain()


def records(session) -> list[CallRecord]:
    return list(session.scalars(select(CallRecord).order_by(CallRecord.id)))


def test_answered_call_gives_one_internal_record(sink, fs_tenant, session):
    feed(sink, normalised("events-call-answered.txt"))
    [call] = records(session)
    assert (call.direction, call.missed, call.hangup_cause) == ("internal", False, "NORMAL_CLEARING")
    assert (call.caller_number, call.caller_name, call.callee_number) == ("1000", "Alice", "1001")
    assert call.caller_user_id == fs_tenant["1000"] and call.answered_by_user_id == fs_tenant["1001"]
    assert call.billsec == 2 and call.duration == 3
    kinds = {(a.kind, a.user_id) for a in session.scalars(select(ActivityItem))}
    assert kinds == {("answered", fs_tenant["1001"])}


def test_missed_call_is_missed_for_the_callee(sink, fs_tenant, session):
    feed(sink, normalised("events-call-missed.txt"))
    [call] = records(session)
    assert call.missed and call.answered_at is None and call.hangup_cause == "ORIGINATOR_CANCEL"
    assert [(a.kind, a.user_id) for a in session.scalars(select(ActivityItem))] == [
        ("missed", fs_tenant["1001"])
    ]


def test_echo_call_is_answered_by_the_application(sink, session):
    feed(sink, normalised("events-call-echo.txt"))
    [call] = records(session)
    assert (call.callee_number, call.missed, call.billsec, call.direction) == ("9196", False, 2, "internal")


def test_queue_call_names_the_queue_and_the_agent(sink, fs_tenant, session):
    feed(sink, normalised("events-callcenter.txt"))
    calls = records(session)
    caller_call = next(c for c in calls if c.callee_number == "7000")
    assert caller_call.queue_id == fs_tenant["queue_id"]
    assert caller_call.answered_by_user_id == fs_tenant["1001"] and not caller_call.missed


def test_replay_never_duplicates(sink, session):
    events = normalised("events-call-answered.txt")
    feed(sink, events)
    feed(sink, events)
    assert len(records(session)) == 1
    assert sink.stats.duplicates == len(events)
    assert session.query(RawEvent).count() == len(events)


def test_registration_presence_follows_register_unregister_expire(sink, fs_tenant, session):
    events = normalised("events-register.txt")
    states = []
    for event in events:
        feed(sink, [event])
        session.expire_all()
        state = session.get(PresenceState, fs_tenant["1000"])
        states.append(state.registrations if state else 0)
    # registered (expires 60), unregistered, registered again (expires 10), expired
    transitions = [n for i, n in enumerate(states) if i == 0 or n != states[i - 1]]
    assert transitions == [1, 0, 1, 0]


def test_call_presence_goes_in_call_and_back(sink, fs_tenant, session):
    from control.models import SipRegistration
    from control.services import presence

    with unit_of_work() as s:
        for ext in ("1000", "1001"):
            s.add(SipRegistration(node="fs1", user_id=fs_tenant[ext], contact=f"sip:{ext}@192.0.2.2"))
            presence.set_line_state(s, s.get(User, fs_tenant[ext]), registrations=1)
    seen: list[str] = []
    for event in normalised("events-call-answered.txt"):
        feed(sink, [event])
        session.expire_all()
        [row] = presence.tenant_presence(session, fs_tenant["tenant_id"], [fs_tenant["1001"]])
        if not seen or seen[-1] != row.state:
            seen.append(row.state)
    assert seen == ["available", "in_call", "available"]


def test_unknown_node_is_counted_and_skipped(sink, session):
    feed(sink, normalised("events-call-echo.txt", node="nowhere"))
    assert sink.stats.unknown_node >= 1 and records(session) == []


@pytest.mark.integration
def test_database_outage_spools_and_delivers_every_record_in_order(sink, fs_tenant, database_url, tmp_path):
    """PostgreSQL refuses connections during two calls; the spool applies them afterwards."""
    from sqlalchemy import create_engine, text

    from control import db
    from tests.conftest import PG_ADMIN_URL

    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is staged on the PostgreSQL run of the suite")
    name = database_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def allow(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if on else "false"}'))
            if not on:
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )

    feed(sink, normalised("events-call-echo.txt"))
    allow(False)
    try:
        for event in normalised("events-call-answered.txt") + normalised("events-call-missed.txt"):
            sink.submit(event)
        deadline = time.monotonic() + 10
        while sink.stats.spooled == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.stats.spooled > 0
        assert sink.spool_path.exists() or sink.spool_path.with_suffix(".replaying").exists()
    finally:
        allow(True)
        admin.dispose()
    assert sink.drain(timeout=20)
    db.dispose_all()
    with unit_of_work() as s:
        calls = {c.callee_number: c for c in s.scalars(select(CallRecord))}
        assert set(calls) == {"9196", "1001"} and len(list(s.scalars(select(CallRecord)))) == 3
        assert sorted(c.missed for c in s.scalars(select(CallRecord))) == [False, False, True]
