"""EventApplier batches: one batch must end where applying the events one by one ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from control.db import unit_of_work
from control.events import (
    CallDirection,
    ChannelCreated,
    ChannelHangup,
    Registration,
    RegistrationState,
    Snapshot,
)
from control.models import (
    ActivityItem,
    CallRecord,
    LiveChannel,
    PbxNode,
    PresenceState,
    Queue,
    RawEvent,
    SipRegistration,
    User,
)
from control.services import lines, numbers, ring_groups
from control.services.call_events import EventApplier
from tests.esl_handlers.wire_captures import capture_tenant, normalised

CALLS = (
    "events-call-answered.txt",
    "events-call-missed.txt",
    "events-call-echo.txt",
    "events-callcenter.txt",
)


def make_world(node: str) -> int:
    """A tenant like the captures' (users 1000 and 1001, queue support = 7000) with one node."""
    return capture_tenant(node, domain=f"{node}.example")["tenant_id"]


def outcome(node: str) -> dict:
    """Everything the events leave behind on a node, without ids."""
    with unit_of_work() as s:
        node_row = s.scalar(select(PbxNode).where(PbxNode.name == node))
        ext = {u.id: u.extension for u in s.scalars(select(User).where(User.tenant_id == node_row.tenant_id))}
        queue_names = {q.id: q.name for q in s.scalars(select(Queue))}
        records = sorted(
            (
                r.call_key,
                r.direction,
                r.missed,
                r.caller_number,
                r.callee_number,
                ext.get(r.caller_user_id),
                ext.get(r.answered_by_user_id),
                queue_names.get(r.queue_id),
                r.duration,
                r.billsec,
                r.hangup_cause,
                r.started_at,
                r.answered_at,
                r.ended_at,
            )
            for r in s.scalars(select(CallRecord).where(CallRecord.node_id == node_row.id))
        )
        record_keys = {r.id: r.call_key for r in s.scalars(select(CallRecord))}
        activity = sorted(
            (record_keys[a.call_record_id], a.kind, ext.get(a.user_id))
            for a in s.scalars(select(ActivityItem).where(ActivityItem.tenant_id == node_row.tenant_id))
        )
        presence = sorted(
            (ext[p.user_id], p.line_state, p.registrations, p.active_calls)
            for p in s.scalars(select(PresenceState).where(PresenceState.user_id.in_(list(ext))))
        )
        live = s.scalar(select(func.count()).select_from(LiveChannel).where(LiveChannel.node == node))
        registered = s.scalar(
            select(func.count()).select_from(SipRegistration).where(SipRegistration.node == node)
        )
        raw = s.scalar(select(func.count()).select_from(RawEvent).where(RawEvent.node == node))
    return {
        "records": records,
        "activity": activity,
        "presence": presence,
        "live": live,
        "registered": registered,
        "raw": raw,
    }


@pytest.mark.parametrize("captures", [CALLS, ("events-register.txt",), (*CALLS, "events-register.txt")])
def test_one_batch_ends_where_event_by_event_ends(database_url, captures) -> None:
    make_world("one")
    make_world("many")
    batch = [event for name in captures for event in normalised(name, "one")]
    with unit_of_work() as s:
        assert EventApplier(s, "one").apply_all(batch) == len(batch)
    for name in captures:
        for event in normalised(name, "many"):
            with unit_of_work() as s:
                assert EventApplier(s, "many").apply_all([event]) == 1
    one, many = outcome("one"), outcome("many")
    assert one == many
    assert one["live"] == 0 and one["raw"] == len(batch)
    if "events-call-answered.txt" in captures:
        assert len(one["records"]) >= 4 and {kind for _, kind, _ in one["activity"]} == {"answered", "missed"}


def test_repeats_inside_and_across_batches_are_stored_and_applied_once(database_url) -> None:
    make_world("one")
    events = normalised("events-call-answered.txt", "one")
    with unit_of_work() as s:
        assert EventApplier(s, "one").apply_all(events + events[::-1]) == len(events)
    first = outcome("one")
    with unit_of_work() as s:
        assert EventApplier(s, "one").apply_all(events) == 0
    assert outcome("one") == first
    assert first["raw"] == len(events) and len(first["records"]) == 1


def test_registrations_in_batches_end_in_the_last_state(database_url) -> None:
    make_world("one")
    registered, unregistered, again, expired = [
        e for e in normalised("events-register.txt", "one") if isinstance(e, Registration)
    ]
    assert (again.state, expired.state) == (RegistrationState.REGISTERED, RegistrationState.EXPIRED)

    def apply(*events: Registration) -> list:
        with unit_of_work() as s:
            EventApplier(s, "one").apply_all(list(events))
        found = outcome("one")
        return [*found["presence"], found["registered"]]

    assert apply(registered, unregistered) == [("1000", "unregistered", 0, 0), 0]
    assert apply(again) == [("1000", "idle", 1, 0), 1]
    assert apply(expired, replace(registered, event_id="later-1")) == [("1000", "idle", 1, 0), 1]
    later = [replace(e, event_id=f"later-{n}") for n, e in enumerate((unregistered, again, expired), 2)]
    assert apply(*later) == [("1000", "unregistered", 0, 0), 0]


def test_a_hang_up_missed_by_the_listener_takes_the_pbxs_end_billsec_and_cause(database_url) -> None:
    """The listener was down across the hang-up: at resync the call is gone and the PBX kept the
    calling channel's end (ENDED_STORE). The record is the one the live hang-up would have made,
    not one that ends at the reconnect."""
    make_world("live")
    make_world("down")
    events = normalised("events-call-answered.txt", "live")
    with unit_of_work() as s:
        EventApplier(s, "live").apply_all(events)
    hangups = [e for e in normalised("events-call-answered.txt", "down") if isinstance(e, ChannelHangup)]
    before = [e for e in normalised("events-call-answered.txt", "down") if not isinstance(e, ChannelHangup)]
    with unit_of_work() as s:
        EventApplier(s, "down").apply_all(before)
    calling = next(e for e in hangups if e.call_id == e.linked_id)
    kept = ChannelHangup(
        node="down",
        pbx="freeswitch",
        event_id=f"ended:{calling.call_id}",
        occurred_at=calling.ended_at,
        call_id=calling.call_id,
        ended_at=calling.ended_at,
        answered_at=calling.answered_at,
        billsec=calling.billsec,
        hangup_cause=calling.hangup_cause,
    )
    reconnect = calling.ended_at + 40
    snapshot = Snapshot(
        node="down",
        pbx="freeswitch",
        taken_at=reconnect,
        parts=frozenset({"channels", "ended"}),
        ended=(kept,),
    )
    with unit_of_work() as s:
        EventApplier(s, "down").resync(snapshot)
    (live,), (down,) = outcome("live")["records"], outcome("down")["records"]
    assert down == live
    assert down[-1] == datetime.fromtimestamp(calling.ended_at, UTC).replace(tzinfo=None)
    assert (down[9], down[10]) == (2, "NORMAL_CLEARING")
    assert outcome("down")["live"] == 0


def _an_inbound_call(node: str, pbx: str, number: str, **hangup: object) -> list:
    """A caller from the trunk rings `number` and is hung up on after two seconds."""
    common = {"node": node, "pbx": pbx, "call_id": f"in-{number}", "linked_id": f"in-{number}"}
    caller = {
        "caller_number": "+14155550123",
        "destination_number": number,
        "direction": CallDirection.INBOUND,
    }
    return [
        ChannelCreated(**common, **caller, event_id=f"c-{number}", occurred_at=100.0, started_at=100.0),
        ChannelHangup(
            **common,
            **caller,
            event_id=f"h-{number}",
            occurred_at=102.0,
            ended_at=102.0,
            hangup_cause="NORMAL_TEMPORARY_FAILURE",
            **hangup,
        ),  # fmt: skip
    ]


def _record(call_id: str) -> CallRecord:
    with unit_of_work() as s:
        record = s.scalar(select(CallRecord).where(CallRecord.call_key == call_id))
        s.expunge(record)
        return record


@pytest.mark.parametrize("pbx", ["freeswitch", "asterisk"])
def test_a_call_records_the_queue_and_ring_group_it_reached_not_the_lines_destination(
    database_url, pbx
) -> None:
    """A paused line whose destination is the queue refuses its callers (480), and a number on
    no line routes nowhere: neither call reached the queue. A call that entered ring group 600
    (FreeSWITCH marks the channel, Asterisk hangs up in 600's dialplan) reached that group."""
    ids = capture_tenant(f"reach-{pbx}", domain=f"reach-{pbx}.example")
    tenant_id = ids["tenant_id"]
    with unit_of_work() as s:
        paused = numbers.create_number(s, tenant_id, {"number": "+12125550150"}, None)
        line = lines.create_line(
            s, tenant_id,
            {"name": "Support", "destination_kind": "queue", "destination_target": str(ids["queue_id"]),
             "number_ids": [paused.id]},
            None,
        )  # fmt: skip
        lines.set_status(s, tenant_id, line.id, "paused", None)
        numbers.create_number(s, tenant_id, {"number": "+12125550151"}, None)
        group = ring_groups.create_ring_group(
            s, tenant_id,
            {"name": "Sales", "extension": "600", "strategy": "parallel", "timeout": 20,
             "members": [{"kind": "user", "target": str(ids["1001"]), "timeout": 15}]},
            None,
        )  # fmt: skip
        group_id = group.id
    reached_group = {"ring_group": "600"} if pbx == "freeswitch" else {"context": "switchboard-internal"}
    events = [
        *_an_inbound_call(f"reach-{pbx}", pbx, "+12125550150"),
        *_an_inbound_call(f"reach-{pbx}", pbx, "+12125550151"),
        *_an_inbound_call(f"reach-{pbx}", pbx, "600", **reached_group),
    ]
    if pbx == "asterisk":  # the call's extension at hang-up is where Asterisk's dialplan had it
        events[-1] = replace(events[-1], destination_number="600")
    with unit_of_work() as s:
        EventApplier(s, f"reach-{pbx}").apply_all(events)
    refused, unrouted, grouped = (_record(f"in-{n}") for n in ("+12125550150", "+12125550151", "600"))
    assert refused.line_id == line.id and (refused.queue_id, refused.ring_group_id) == (None, None)
    assert (unrouted.queue_id, unrouted.ring_group_id) == (None, None)
    assert (grouped.ring_group_id, grouped.queue_id) == (group_id, None)
