"""Sending a broadcast, on the real database: the audience at start (do-not-call skipped, bad
numbers listed), the tenant's throttle, outcomes and retries, pause, resume, cancel, CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from control.errors import Invalid
from control.models import Broadcast, BroadcastRecipient, Command, ContactNumber, PbxNode
from control.services import (
    broadcast_results,
    broadcast_sending,
    broadcasts,
    contacts,
    lines,
    nodes,
    numbers,
    tags,
    tenants,
)

LINE_NUMBER = "+12125550177"
T0 = datetime(2030, 1, 1, 9, 0, 0)
GAP = broadcast_sending.spacing(5).total_seconds()  # 5 a second, a little wider apart


@pytest.fixture()
def world(session):  # type: ignore[no-untyped-def]
    tenant = tenants.create_tenant(
        session, {"name": "bcast", "domain": "bcast.example", "trunk_host": "127.0.0.1", "trunk_port": 5090}
    )
    tenants.update_tenant(
        session,
        tenant.id,
        {
            "name": "bcast",
            "domain": "bcast.example",
            "trunk_host": "127.0.0.1",
            "trunk_port": 5090,
            "broadcast_calls_per_second": 5,
            "broadcast_max_concurrent": 3,
        },
        None,
    )
    number = numbers.create_number(session, tenant.id, {"number": LINE_NUMBER}, None)
    line = lines.create_line(
        session, tenant.id, {"name": "Sales", "destination_kind": "hangup", "number_ids": [number.id]}, None
    )
    nodes.create_node(
        session,
        {
            "name": "bcast-node",
            "kind": "asterisk",
            "host": "127.0.0.1",
            "port": 5038,
            "username": "sb",
            "secret": "secret-secret",
            "config_dir": "/tmp/bcast-node",
            "tenant_id": tenant.id,
        },
        None,
    )
    tag = tags.create_tag(session, tenant.id, {"name": "Customers"}, None)
    people = []
    for index in range(8):
        people.append(
            contacts.create_contact(
                session,
                tenant.id,
                {
                    "first_name": f"P{index}",
                    "numbers": [{"number": f"+1415555{index:04d}"}],
                    "tag_ids": [tag.id],
                    "do_not_call": index == 7,
                },
                None,
            )
        )
    # A number that no longer parses (saved before the rules changed): listed, never dialled.
    session.get(ContactNumber, people[6].numbers[0].id).e164 = "+1555"
    session.flush()
    return {"tenant": tenant, "line": line, "tag": tag, "people": people}


def _broadcast(session, world, kind: str = "text", **extra) -> Broadcast:  # type: ignore[no-untyped-def]
    data = {
        "name": "Offer",
        "kind": kind,
        "message": "Spring prices",
        "line_id": world["line"].id,
        "tag_ids": [world["tag"].id],
        "retry_count": 1,
        "retry_delay": 30,
    } | extra
    broadcast = broadcasts.create_broadcast(session, world["tenant"].id, data, None)
    if kind == "voice":
        broadcast.recording = "broadcast-1-0123456789abcdef.wav"
    return broadcast


def _dispatch_until_idle(session, broadcast_id: int, now: datetime) -> list[Command]:  # type: ignore[no-untyped-def]
    """Dispatch at `now` until the sender waits; the executor takes each call at once."""
    sent = []
    while broadcast_sending.dispatch(session, broadcast_id, now) == 0.0:
        command = session.scalars(select(Command).order_by(Command.id.desc()).limit(1)).one()
        _executor_takes(command, now)
        sent.append(command)
    return sent


def _executor_takes(command: Command, at: datetime) -> None:
    command.state, command.sent_at = "sending", at


def _statuses(session, broadcast_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        r.name: r.status
        for r in session.scalars(
            select(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id)
        )
    }


def test_start_resolves_the_audience_once_skipping_opted_out_and_listing_bad_numbers(session, world):
    broadcast = _broadcast(session, world)
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "start", None)
    assert broadcast.status == "running" and broadcast.started_at is not None
    statuses = _statuses(session, broadcast.id)
    assert statuses == {**{f"P{i}": "pending" for i in range(6)}, "P6": "invalid", "P7": "skipped"}
    progress = broadcast_sending.progress(session, broadcast.id)
    assert (progress["total"], progress["skipped"], progress["invalid"], progress["remaining"]) == (
        8,
        1,
        1,
        6,
    )
    # A contact tagged later does not join a broadcast that already started.
    contacts.create_contact(
        session,
        world["tenant"].id,
        {"first_name": "Late", "numbers": [{"number": "+14155550999"}], "tag_ids": [world["tag"].id]},
        None,
    )
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "pause", None)
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "resume", None)
    assert "Late" not in _statuses(session, broadcast.id)


def test_texts_keep_the_tenants_rate_and_each_delivery_is_recorded(session, world):
    broadcast = _broadcast(session, world)
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "start", None)
    # 5 a second, evenly spaced: one now, the next GAP (0.21 s) later.
    first = _dispatch_until_idle(session, broadcast.id, T0)
    assert len(first) == 1
    assert first[0].kind == "message" and first[0].params["from"] == LINE_NUMBER
    assert first[0].params["body"] == "Spring prices" and first[0].params["trunk_port"] == 5090
    wait = broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=0.15))
    assert wait is not None and abs(wait - (GAP - 0.15)) < 1e-6
    assert len(_dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=GAP))) == 1
    # At most 3 at once: the fourth waits for a result.
    assert len(_dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=2 * GAP))) == 1
    assert (
        broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=3 * GAP))
        == broadcast_sending.IDLE_WAIT
    )
    sent = session.scalars(select(Command).where(Command.tenant_id == world["tenant"].id)).all()
    assert len(sent) == 3
    from control.services import commands

    commands.finish(session, sent[0].id, "ok", "MessageSend: SUCCESS")
    broadcast_sending.on_command_finished(session, sent[0])
    commands.finish(session, sent[1].id, "failed", "MessageSend: FAILURE")
    broadcast_sending.on_command_finished(session, sent[1])
    assert len(_dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=1))) == 1
    progress = broadcast_sending.progress(session, broadcast.id)
    assert (progress["sent"], progress["delivered"], progress["failed"], progress["remaining"]) == (
        4,
        1,
        1,
        4,
    )


def test_two_broadcasts_of_a_tenant_share_its_rate(session, world):
    """Two broadcasts sending at once keep the tenant's rate together, and both progress."""
    from control.services import commands

    tenant = world["tenant"]
    tenant.broadcast_max_concurrent = 10
    both = [_broadcast(session, world, name=name) for name in ("Offer A", "Offer B")]
    for broadcast in both:
        broadcast_sending.act(session, tenant.id, broadcast.id, "start", None)
    handed: list[tuple[datetime, int]] = []
    for step in range(80):  # 4 s, the two senders looking every 50 ms, in turn
        now = T0 + timedelta(seconds=step * 0.05)
        for broadcast in both if step % 2 else reversed(both):
            for command in _dispatch_until_idle(session, broadcast.id, now):
                handed.append((now, broadcast.id))
                commands.finish(session, command.id, "ok", "delivered")
                broadcast_sending.on_command_finished(session, command)
    assert [b.status for b in both] == ["done", "done"]
    assert sorted(broadcast_id for _, broadcast_id in handed) == sorted([both[0].id] * 6 + [both[1].id] * 6)
    times = [at for at, _ in handed]
    assert max(sum(1 for t in times if start <= t < start + timedelta(seconds=1)) for start in times) <= 5
    assert all(b - a >= broadcast_sending.spacing(5) for a, b in zip(times, times[1:], strict=False))
    # Neither waited for the other to finish: their calls interleave.
    first_b = min(at for at, broadcast_id in handed if broadcast_id == both[1].id)
    last_a = max(at for at, broadcast_id in handed if broadcast_id == both[0].id)
    assert first_b < last_a


def test_calls_retry_busy_and_no_answer_as_configured_then_finish(session, world):
    broadcast = _broadcast(session, world, kind="voice", ring_seconds=5)
    tenant = world["tenant"]
    tenant.broadcast_max_concurrent = 10
    broadcast_sending.act(session, tenant.id, broadcast.id, "start", None)
    calls = []
    for step in range(6):
        calls += _dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=step * GAP))
    assert len(calls) == 6 and {c.kind for c in calls} == {"broadcast_call"}
    assert calls[0].params["caller_id"] == LINE_NUMBER and calls[0].params["ring_seconds"] == 5
    assert calls[0].params["recording"] == "broadcast-1-0123456789abcdef.wav"
    results = ["ANSWER", "BUSY", "NOANSWER", "CHANUNAVAIL", "BUSY", "ANSWER"]
    for command, result in zip(calls, results, strict=True):
        broadcast_sending.on_call_result(session, command.id, result, T0 + timedelta(seconds=2))
    # A repeated result changes nothing.
    broadcast_sending.on_call_result(session, calls[0].id, "BUSY", T0 + timedelta(seconds=2))
    statuses = _statuses(session, broadcast.id)
    assert [statuses[f"P{i}"] for i in range(6)] == [
        "answered",
        "retry",
        "retry",
        "failed",
        "retry",
        "answered",
    ]
    # Not before the delay.
    assert _dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=10)) == []
    retries = []
    for step in range(3):
        retries += _dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=40 + step * GAP))
    assert sorted(c.target for c in retries) == ["+14155550001", "+14155550002", "+14155550004"]
    for command in retries:
        broadcast_sending.on_call_result(session, command.id, "BUSY", T0 + timedelta(seconds=45))
    statuses = _statuses(session, broadcast.id)
    assert [statuses[f"P{i}"] for i in (1, 2, 4)] == ["busy", "busy", "busy"]  # one retry, then final
    assert broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=100)) is None
    assert broadcast.status == "done" and broadcast.finished_at is not None
    attempts = {r.name: r.attempts for r in broadcast_sending.recipients(session, tenant.id, broadcast.id)}
    assert attempts == {"P0": 1, "P1": 2, "P2": 2, "P3": 1, "P4": 2, "P5": 1, "P6": 0, "P7": 0}


def test_pause_stops_new_calls_resume_continues_cancel_ends(session, world):
    broadcast = _broadcast(session, world)
    tenant_id = world["tenant"].id
    broadcast_sending.act(session, tenant_id, broadcast.id, "start", None)
    assert len(_dispatch_until_idle(session, broadcast.id, T0)) == 1
    broadcast_sending.act(session, tenant_id, broadcast.id, "pause", None)
    assert broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=5)) is None
    with pytest.raises(Invalid, match="A paused broadcast cannot pause"):
        broadcast_sending.act(session, tenant_id, broadcast.id, "pause", None)
    broadcast_sending.act(session, tenant_id, broadcast.id, "resume", None)
    assert len(_dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=6))) == 1
    broadcast_sending.act(session, tenant_id, broadcast.id, "cancel", None)
    assert broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=7)) is None
    progress = broadcast_sending.progress(session, broadcast.id)
    assert (progress["sent"], progress["cancelled"]) == (2, 4)
    with pytest.raises(Invalid, match="cancelled broadcast cannot start"):
        broadcast_sending.act(session, tenant_id, broadcast.id, "start", None)


def test_what_sending_needs_is_checked_before_it_starts(session, world):
    tenant_id = world["tenant"].id
    no_line = _broadcast(session, world, line_id=None)
    with pytest.raises(Invalid) as refused:
        broadcast_sending.act(session, tenant_id, no_line.id, "start", None)
    assert refused.value.errors == {"line_id": ["Choose the line the broadcast is sent from."]}
    voice = _broadcast(session, world, kind="voice")
    voice.recording = None
    with pytest.raises(Invalid) as refused:
        broadcast_sending.act(session, tenant_id, voice.id, "start", None)
    assert refused.value.errors == {"recording": ["Upload the recording to play."]}
    assert voice.status == "draft"
    assert (
        session.scalar(select(BroadcastRecipient.id).where(BroadcastRecipient.broadcast_id == voice.id))
        is None
    )
    # Both PBX kinds place voice broadcasts.
    voice.recording = "broadcast-1-0123456789abcdef.wav"
    node = session.scalars(select(PbxNode).where(PbxNode.tenant_id == tenant_id)).one()
    node.kind = "freeswitch"
    assert broadcast_sending.act(session, tenant_id, voice.id, "start", None).status == "running"


def test_scheduled_broadcast_starts_when_due(session, world):
    broadcast = _broadcast(session, world, scheduled_at="2030-01-01T09:00")
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "schedule", None)
    assert not broadcast_sending.start_when_due(session, broadcast.id, T0 - timedelta(seconds=1))
    assert broadcast.status == "scheduled"
    assert broadcast_sending.start_when_due(session, broadcast.id, T0)
    assert broadcast.status == "running" and len(_statuses(session, broadcast.id)) == 8


def test_a_missed_start_starts_late_or_is_marked_missed_as_chosen(session, world):
    from control.models import AuditLog

    tenant_id = world["tenant"].id
    late = T0 + broadcast_sending.MISSED_AFTER + timedelta(seconds=1)
    on_time = _broadcast(session, world, name="On time", scheduled_at="2030-01-01T09:00")
    starts_late = _broadcast(session, world, name="Late", scheduled_at="2030-01-01T09:00")
    skipped = _broadcast(session, world, name="Skipped", scheduled_at="2030-01-01T09:00", if_missed="missed")
    for broadcast in (on_time, starts_late, skipped):
        broadcast_sending.act(session, tenant_id, broadcast.id, "schedule", None)
    # A worker coming back sees every due start (and every running broadcast).
    due, running = broadcast_sending.overdue(session, late)
    assert sorted(due) == sorted((b.id, T0) for b in (on_time, starts_late, skipped)) and running == []
    assert broadcast_sending.overdue(session, T0 - timedelta(seconds=1)) == ([], [])
    # Within MISSED_AFTER it is on time, whatever the choice.
    assert broadcast_sending.start_when_due(session, on_time.id, T0 + broadcast_sending.MISSED_AFTER)
    assert broadcast_sending.start_when_due(session, starts_late.id, late)
    assert (on_time.status, starts_late.status) == ("running", "running")
    assert not broadcast_sending.start_when_due(session, skipped.id, late)
    assert skipped.status == "missed" and _statuses(session, skipped.id) == {}
    actions = dict(
        session.execute(
            select(AuditLog.target_id, AuditLog.action).where(
                AuditLog.action.in_(("broadcast.late_start", "broadcast.missed"))
            )
        ).all()
    )
    assert actions == {starts_late.id: "broadcast.late_start", skipped.id: "broadcast.missed"}
    assert broadcast_sending.overdue(session, late) == ([], sorted([on_time.id, starts_late.id]))
    # A missed broadcast can be edited, scheduled again or started now; never paused.
    broadcasts.update_broadcast(session, tenant_id, skipped.id, {"scheduled_at": "2030-01-02T09:00"}, None)
    with pytest.raises(Invalid, match="missed broadcast cannot pause"):
        broadcast_sending.act(session, tenant_id, skipped.id, "pause", None)
    assert broadcast_sending.act(session, tenant_id, skipped.id, "start", None).status == "running"
    with pytest.raises(Invalid) as refused:
        broadcasts.create_broadcast(
            session,
            tenant_id,
            {"name": "x", "message": "y", "tag_ids": [world["tag"].id], "if_missed": "later"},
            None,
        )
    assert refused.value.errors == {"if_missed": ["Choose one of: start, missed."]}


def test_results_csv_neutralises_formulas(session, world):
    contacts.update_contact(
        session,
        world["tenant"].id,
        world["people"][0].id,
        {"first_name": '=HYPERLINK("http://x")', "numbers": [{"number": "+14155550000"}]},
        None,
    )
    broadcast = _broadcast(session, world)
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "start", None)
    _dispatch_until_idle(session, broadcast.id, T0)
    text = "".join(broadcast_results.export_csv(session, world["tenant"].id, broadcast.id))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8
    assert rows[0]["name"].startswith("'=HYPERLINK")
    assert (
        rows[0]["number"] == "+14155550000" and rows[0]["status"] == "sending" and rows[0]["attempts"] == "1"
    )
    assert rows[0]["last_attempt_at"] == "2030-01-01T09:00:00Z"
    assert {r["status"] for r in rows[6:]} == {"invalid", "skipped"}


def test_few_calls_wait_for_the_executor_which_paces_them_again(session, world):
    broadcast = _broadcast(session, world)
    broadcast_sending.act(session, world["tenant"].id, broadcast.id, "start", None)
    assert broadcast_sending.dispatch(session, broadcast.id, T0) == 0.0
    assert broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=GAP)) == 0.0
    first = session.scalars(select(Command).order_by(Command.id).limit(1)).one()
    assert first.params["pace"] == {"key": f"broadcasts-{world['tenant'].id}", "seconds": GAP}
    # Two not taken by the executor yet: nothing more goes out, however long it has been since.
    wait = broadcast_sending.dispatch(session, broadcast.id, T0 + timedelta(seconds=1))
    assert wait == broadcast_sending.HAND_OVER_WAIT
    _executor_takes(first, T0 + timedelta(seconds=1.1))
    assert len(_dispatch_until_idle(session, broadcast.id, T0 + timedelta(seconds=1.1))) == 1
