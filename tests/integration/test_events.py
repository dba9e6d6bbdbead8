"""The event pipeline against a real PBX, on each PBX kind (the `pbx` fixture): `switchboard
listen` turns sipp calls into call records, presence and activity in PostgreSQL; it survives a
lost control connection, a database outage, being killed mid-call and the PBX restarting mid-call,
with nothing lost or duplicated and each call ending when the PBX says it did.

One world per module and PBX kind (see events_world): users 1001 Ann (answers), 1002 Ben (never
answers), 1003 Cat (calls), 1004 Dan (registers briefly); lines A -> Ann, B -> Ben, C -> ring
group 600 (Ann + Ben in parallel), queue 700 (Ann); outside callers arrive where the carrier's
calls do; a sipp trunk answers outbound calls.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import func, select

from control.models import LiveChannel, PresenceState, SipRegistration
from tests.integration.events_world import (
    CONTACT_NUMBER,
    LINE_A,
    LINE_B,
    LINE_C,
    NODE,
    OUTSIDE_NUMBER,
    EventsWorld,
    events_world,
    read,
    wait_for,
)
from tests.integration.pbx_kinds import MIN_EXPIRY, Pbx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorld]:
    with events_world(pbx_database_url, pbx, tmp_path_factory.mktemp(f"events-{pbx.kind}")) as built:
        yield built


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _presence(world: EventsWorld, extension: str) -> PresenceState | None:
    return read(lambda s: s.get(PresenceState, world.user_id(extension)))


def _registered(world: EventsWorld, extension: str) -> int:
    return read(
        lambda s: (
            s.scalar(
                select(func.count()).where(
                    SipRegistration.node == NODE, SipRegistration.user_id == world.user_id(extension)
                )
            )
            or 0
        )
    )


def test_registrations_bring_people_online(world: EventsWorld) -> None:
    since = world.watch.mark()
    assert _presence(world, "1001") is None or _presence(world, "1001").registrations == 0
    world.register("1001", answer_after=0.8)
    world.register("1002", answer_after=None)
    world.register("1003", answer_after=0.5)
    for ext in ("1001", "1002", "1003"):
        world.watch.wait_presence(world.user_id(ext), "available", since)
        assert world.watch.presence(world.user_id(ext), since) == ["available"]
        assert _registered(world, ext) == 1
        state = _presence(world, ext)
        assert state is not None and (state.registrations, state.line_state) == (1, "idle")


def test_an_answered_inbound_call_on_a_line(world: EventsWorld) -> None:
    ann = world.user_id("1001")
    since = world.watch.mark()
    started = time.time()
    result = world.outside.call(LINE_A, caller=CONTACT_NUMBER, hold=1.5, timeout=20)
    assert result.answered, result
    record = world.wait_record("the answered call's record", lambda r: r.callee_number.endswith(LINE_A[1:]))
    assert record.direction == "inbound" and record.missed is False
    assert record.answered_by_user_id == ann and record.callee_user_id == ann
    assert record.line_id == world.ids["line_a"] and record.number_used == LINE_A
    assert record.caller_contact_id == world.ids["contact"]
    assert record.caller_number.endswith(CONTACT_NUMBER[1:])
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert record.started_at >= _naive(started - 1)
    assert 0.3 <= (record.answered_at - record.started_at).total_seconds() <= 2.5
    assert 1 <= record.billsec <= 3 and record.duration >= record.billsec
    assert world.activity(record.id) == {("answered", ann, None), ("answered", None, world.ids["line_a"])}
    world.watch.wait_presence(ann, "available", since)
    assert world.watch.presence(ann, since) == ["in_call", "available"], world.watch.describe(ann)


def _last_record_id(world: EventsWorld) -> int:
    records = world.records()
    return records[-1].id if records else 0


def test_a_short_registration_appears_then_expires(world: EventsWorld) -> None:
    """Dan registers for MIN_EXPIRY seconds and never refreshes: the PBX expires the registration
    (its sweep runs every 30 s or so, so the check comes near the end of the module)."""
    dan = world.user_id("1004")
    since = world.watch.mark()
    world.register("1004", answer_after=0.5, expires=MIN_EXPIRY)
    world.phones["1004"].registered = False  # nothing to undo at teardown: it lapses by itself
    world.watch.wait_presence(dan, "available", since)
    assert _registered(world, "1004") == 1
    world.marks["dan registered"] = since


def test_a_missed_call_on_a_line(world: EventsWorld) -> None:
    ben = world.user_id("1002")
    since = world.watch.mark()
    after = _last_record_id(world)
    result = world.outside.call(LINE_B, caller=CONTACT_NUMBER, cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    record = world.wait_record("the missed call's record", lambda r: r.id > after)
    assert record.direction == "inbound" and record.missed is True
    assert record.answered_by_user_id is None and record.answered_at is None and record.billsec == 0
    assert record.callee_user_id == ben and record.line_id == world.ids["line_b"]
    assert record.number_used == LINE_B and record.caller_contact_id == world.ids["contact"]
    assert record.ended_at is not None and 1.0 <= record.duration <= 4
    assert record.hangup_cause, "the caller's hang-up cause is kept"
    assert world.activity(record.id) == {("missed", ben, None), ("missed", None, world.ids["line_b"])}
    # Ringing is not a call: Ben stays available throughout, his line back to idle.
    assert world.watch.presence(ben, since) == [], world.watch.describe(ben)
    wait_for("Ben's line back to idle", lambda: _presence(world, "1002").line_state == "idle")


def test_a_call_through_a_ring_group(world: EventsWorld) -> None:
    ann, ben = world.user_id("1001"), world.user_id("1002")
    since = world.watch.mark()
    after = _last_record_id(world)
    result = world.outside.call(LINE_C, caller="+12025550111", hold=1.0, timeout=20)
    assert result.answered, result
    record = world.wait_record("the ring group call's record", lambda r: r.id > after)
    assert record.direction == "inbound" and record.missed is False
    assert record.ring_group_id == world.ids["600"] and record.line_id == world.ids["line_c"]
    assert record.answered_by_user_id == ann and record.caller_contact_id is None
    assert world.activity(record.id) == {("answered", ann, None), ("answered", None, world.ids["line_c"])}
    world.watch.wait_presence(ann, "available", since)
    assert world.watch.presence(ann, since) == ["in_call", "available"], world.watch.describe(ann)
    assert world.watch.presence(ben, since) == [], world.watch.describe(ben)


def test_a_ring_group_call_nobody_takes_is_missed_by_every_member(world: EventsWorld) -> None:
    ann, ben = world.user_id("1001"), world.user_id("1002")
    after = _last_record_id(world)
    # Ann would answer after 0.8 s of ringing: the caller gives up before that.
    result = world.outside.call(LINE_C, caller=CONTACT_NUMBER, cancel_after=0.1, timeout=20)
    assert result.outcome == "cancelled", result
    record = world.wait_record("the missed ring group call's record", lambda r: r.id > after)
    assert record.direction == "inbound" and record.missed is True and record.answered_by_user_id is None
    assert record.ring_group_id == world.ids["600"] and record.line_id == world.ids["line_c"]
    assert world.activity(record.id) == {
        ("missed", ann, None),
        ("missed", ben, None),
        ("missed", None, world.ids["line_c"]),
    }


def test_a_call_through_a_queue(world: EventsWorld) -> None:
    ann, cat = world.user_id("1001"), world.user_id("1003")
    since = world.watch.mark()
    after = _last_record_id(world)
    # The caller stays on long enough for Ann to answer the offer (after 0.8 s of ringing): a
    # FreeSWITCH queue answers the caller with hold music before it offers the call.
    result = world.sipp.call("700", caller="1003", password=world.secrets["1003"], hold=3.0, timeout=20)
    assert result.answered, result
    record = world.wait_record("the queue call's record", lambda r: r.id > after)
    assert record.direction == "internal" and record.missed is False
    assert record.queue_id == world.ids["700"] and record.ring_group_id is None
    assert record.caller_user_id == cat and record.answered_by_user_id == ann
    assert record.callee_number == "700" and record.answered_at is not None
    assert world.activity(record.id) == {("answered", ann, None)}
    kinds = {r.kind for r in world.raw_events(record.call_key)}
    assert "QueueCallEvent" in kinds, kinds
    world.watch.wait_presence(ann, "available", since)
    assert world.watch.presence(ann, since) == ["in_call", "available"], world.watch.describe(ann)
    assert world.watch.presence(cat, since) == ["in_call", "available"], world.watch.describe(cat)


def test_an_outbound_call_through_the_trunk(world: EventsWorld) -> None:
    cat = world.user_id("1003")
    since = world.watch.mark()
    after = _last_record_id(world)
    result = world.sipp.call(
        OUTSIDE_NUMBER, caller="1003", password=world.secrets["1003"], hold=1.0, timeout=20
    )
    assert result.answered, result
    assert world.trunk.invites(), "the call left through the sipp trunk"
    record = world.wait_record("the outbound call's record", lambda r: r.id > after)
    assert record.direction == "outbound" and record.missed is False
    assert record.caller_user_id == cat and record.callee_number == OUTSIDE_NUMBER
    assert record.number_used == LINE_A and record.line_id == world.ids["line_a"], "Cat presents line A"
    assert record.callee_contact_id == world.ids["outside_contact"]
    assert record.answered_at is not None and record.hangup_cause == "NORMAL_CLEARING"
    assert world.activity(record.id) == {("outbound", cat, None), ("outbound", None, world.ids["line_a"])}
    world.watch.wait_presence(cat, "available", since)
    assert world.watch.presence(cat, since) == ["in_call", "available"], world.watch.describe(cat)


def test_dialled_text_never_reaches_goto_or_dial_arguments(world: EventsWorld) -> None:
    """Outbound patterns end in "." (any character) on Asterisk: a number with "&" or "," would
    otherwise add a Dial leg or Dial options. Neither PBX routes such text: the call is refused
    (Asterisk: 484 before it is used) or never routed, and nothing rings."""
    trunk, ann = len(world.trunk.invites()), len(world.phones["1001"].invites())
    for dialled in ("+15550100&PJSIP/1001", "+15550100,1,U(x)", "155501000,5"):
        result = world.sipp.call(
            dialled, caller="1003", password=world.secrets["1003"], cancel_after=0.5, timeout=15
        )
        assert not result.answered and (result.final_code or 0) >= 400, (dialled, result)
    assert len(world.trunk.invites()) == trunk, "nothing left through the trunk"
    assert len(world.phones["1001"].invites()) == ann, "no extra leg rang 1001"


def test_a_lost_control_connection_during_a_call_is_resynchronised(world: EventsWorld) -> None:
    """The AMI or ESL connection drops while Ann's phone rings and stays down while she answers: the
    listener reconnects with backoff, the resync finds the answered call, and the record made at
    the live hang-up is complete."""
    ann = world.user_id("1001")
    since = world.watch.mark()
    after = _last_record_id(world)
    invites = len(world.phones["1001"].invites())
    resyncs = world.listener.count("resynced after connect")
    result_started = time.time()
    call = world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=5.0, timeout=20)
    world.phones["1001"].wait_for_invites(invites + 1)
    cut = world.control_proxy.refuse()
    assert cut == 1, "the listener's one control connection"
    wait_for(
        "Ann to answer while nobody listens",
        lambda: [e for e in world.phones["1001"].events() if e.kind == "ANSWER" and e.at >= result_started],
    )
    world.control_proxy.accept()
    world.listener.wait_log("resynced after connect", resyncs + 1)
    world.watch.wait_presence(ann, "in_call", since)
    result = call.wait()
    assert result.answered, result
    record = world.wait_record("the record of the call the listener half missed", lambda r: r.id > after)
    assert record.direction == "inbound" and record.missed is False
    assert record.answered_by_user_id == ann and record.line_id == world.ids["line_a"]
    assert record.answered_at is not None and record.hangup_cause == "NORMAL_CLEARING"
    assert record.ended_at is not None and abs(record.ended_at - _naive(result.ended_at)).total_seconds() < 1
    assert world.activity(record.id) == {("answered", ann, None), ("answered", None, world.ids["line_a"])}
    world.watch.wait_presence(ann, "available", since)
    assert world.watch.presence(ann, since) == ["in_call", "available"], world.watch.describe(ann)
    assert read(lambda s: s.scalar(select(func.count()).select_from(LiveChannel))) == 0


def _spooled(world: EventsWorld) -> list[dict]:
    spool = world.spool_dir / "events.spool"
    if not spool.exists():
        return []
    return [orjson.loads(line) for line in spool.read_bytes().splitlines() if line.strip()]


def _spooled_ids(world: EventsWorld) -> list[str]:
    return [item["event_id"] for item in _spooled(world) if "event_id" in item]


def _spooled_kinds(world: EventsWorld) -> list[str]:
    return [item.get("type", "") for item in _spooled(world)]


def test_calls_during_a_database_outage_arrive_from_the_spool(world: EventsWorld) -> None:
    """PostgreSQL is unreachable for the listener (its connections cut, new ones refused) during
    three calls: the sink spools every event to disk and, once the database answers, applies the
    spool in order, once."""
    ann, ben, cat = world.user_id("1001"), world.user_id("1002"), world.user_id("1003")
    after = _last_record_id(world)
    raw_after = world.raw_events()[-1].id
    world.pg_proxy.refuse()
    try:
        calls = [
            world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=1.0, timeout=20),
            world.outside.start_call(LINE_B, caller="+12025550111", cancel_after=1.0, timeout=20),
            world.sipp.start_call(
                OUTSIDE_NUMBER, caller="1003", password=world.secrets["1003"], hold=1.0, timeout=20
            ),
        ]
        outcomes = sorted(call.wait().outcome for call in calls)
        assert outcomes == ["answered", "answered", "cancelled"]
        # Six channels hung up: all of them are on disk before the database comes back.
        wait_for(
            "every hang-up in the spool",
            lambda: sum(kind == "ChannelHangup" for kind in _spooled_kinds(world)) >= 6,
            timeout=10,
        )
        assert _last_record_id(world) == after, "nothing reached the database meanwhile"
        spooled = _spooled_ids(world)
    finally:
        world.pg_proxy.accept()
    assert len(spooled) == len(set(spooled)) >= 12, [
        line
        for line in (world.spool_dir / "events.spool").read_bytes().splitlines()
        if spooled.count(orjson.loads(line)["event_id"]) > 1
    ]
    wait_for("the spool replayed", lambda: not _spooled_ids(world), timeout=15)
    records = wait_for(
        "three records from the spool",
        lambda: (found := [r for r in world.records() if r.id > after]) and len(found) >= 3 and found,
        timeout=10,
    )
    assert len(records) == 3 and len({r.call_key for r in records}) == 3
    raws = [r for r in world.raw_events() if r.id > raw_after]
    assert [r.event_id for r in raws[: len(spooled)]] == spooled, "applied in spool order, each once"
    # in the order they happened: Asterisk stamps each event in the thread that raises it, so two
    # channels' events may arrive microseconds out of stamp order; a replay out of order is seconds
    occurred = [r.occurred_at for r in raws[: len(spooled)]]
    assert all(later >= earlier - 0.001 for earlier, later in itertools.pairwise(occurred)), occurred
    by_kind = {(r.direction, r.missed): r for r in records}
    answered, missed, outbound = (
        by_kind[("inbound", False)],
        by_kind[("inbound", True)],
        by_kind[("outbound", False)],
    )
    assert answered.answered_by_user_id == ann and answered.line_id == world.ids["line_a"]
    assert missed.callee_user_id == ben and missed.line_id == world.ids["line_b"]
    assert outbound.caller_user_id == cat and outbound.number_used == LINE_A
    assert world.activity(answered.id) == {("answered", ann, None), ("answered", None, world.ids["line_a"])}
    assert world.activity(missed.id) == {("missed", ben, None), ("missed", None, world.ids["line_b"])}
    assert world.activity(outbound.id) == {("outbound", cat, None), ("outbound", None, world.ids["line_a"])}
    log = world.listener.log()
    assert "database unavailable" in log and "spool replayed" in log
    for ext in ("1001", "1002", "1003"):
        state = _presence(world, ext)
        assert (state.registrations, state.line_state, state.active_calls) == (1, "idle", 0), ext


def test_the_short_registration_expired(world: EventsWorld) -> None:
    dan = world.user_id("1004")
    since = world.marks["dan registered"]
    world.watch.wait_presence(dan, "offline", since, timeout=world.pbx.expiry_within)
    assert world.watch.presence(dan, since) == ["available", "offline"], world.watch.describe(dan)
    assert _registered(world, "1004") == 0
    assert _presence(world, "1004").line_state == "unregistered"
    states = [
        r.payload.get("state")
        for r in world.raw_events()
        if r.kind == "Registration" and r.payload.get("extension") == "1004"
    ]
    # The expiry is an event of its own (a resync's snapshot may also list the contact before it).
    assert states[0] == "registered" and states[-1] in ("expired", "unregistered"), states


def test_a_hang_up_while_the_listener_is_down_takes_the_pbxs_end_billsec_and_cause(
    world: EventsWorld,
) -> None:
    """Ann answers while the listener listens; the control connection is cut, the caller hangs
    up, and the listener is back only seconds later. The record ends at the BYE, not at the
    reconnect: the PBX kept the channel's end, billsec and cause (Asterisk in AstDB from the
    endpoints' hang-up handler, FreeSWITCH in mod_hash from the dialplan's hang-up hook), the
    resync read them, then pruned them."""
    ann = world.user_id("1001")
    since = world.watch.mark()
    after = _last_record_id(world)
    resyncs = world.listener.count("resynced after connect")
    call = world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=3.0, timeout=20)
    world.watch.wait_presence(ann, "in_call", since)
    assert world.control_proxy.refuse() == 1, "the listener's one control connection"
    result = call.wait()
    assert result.answered and result.ended_at is not None and result.answered_at is not None, result
    wait_for("the PBX to keep the ended channels", world.pbx.kept_ends)
    wait_for("the listener to stay away 2.5 s past the BYE", lambda: time.time() > result.ended_at + 2.5, 10)
    world.control_proxy.accept()
    world.listener.wait_log("resynced after connect", resyncs + 1, timeout=30)
    record = world.wait_record("the record of the call that ended unseen", lambda r: r.id > after)
    assert record.missed is False and record.answered_by_user_id == ann
    assert record.ended_at is not None and abs(record.ended_at - _naive(result.ended_at)).total_seconds() < 1
    talked = result.ended_at - result.answered_at
    assert abs(record.billsec - talked) <= 1, (record.billsec, talked)
    assert record.hangup_cause == "NORMAL_CLEARING"
    wait_for("the kept ends pruned", lambda: not world.pbx.kept_ends())
    world.watch.wait_presence(ann, "available", since)
    assert read(lambda s: s.scalar(select(func.count()).select_from(LiveChannel))) == 0


def _answered_channels(world: EventsWorld) -> int:
    return read(
        lambda s: (
            s.scalar(select(func.count()).where(LiveChannel.node == NODE, LiveChannel.answered.is_(True)))
            or 0
        )
    )


def _raw_event_ids(world: EventsWorld, call_key: str) -> list[str]:
    return [r.event_id for r in world.raw_events(call_key)]


def test_the_listener_killed_mid_call_loses_nothing_and_duplicates_nothing(world: EventsWorld) -> None:
    """`switchboard listen` is killed (SIGKILL) while Ann talks and the call ends before it is
    started again: the new listener's resync makes the one record, ended at the BYE."""
    ann = world.user_id("1001")
    since = world.watch.mark()
    after = _last_record_id(world)
    call = world.outside.start_call(LINE_A, caller=CONTACT_NUMBER, hold=3.0, timeout=20)
    world.watch.wait_presence(ann, "in_call", since)
    world.listener.kill()
    result = call.wait()
    assert result.answered and result.ended_at is not None and result.answered_at is not None, result
    resyncs = world.listener.count("resynced after connect")
    world.listener.start()
    world.listener.wait_log("resynced after connect", resyncs + 1, timeout=30)
    record = world.wait_record("the record of the call that ended unseen", lambda r: r.id > after, 15)
    assert record.missed is False and record.answered_by_user_id == ann
    assert record.line_id == world.ids["line_a"]
    assert record.ended_at is not None and abs(record.ended_at - _naive(result.ended_at)).total_seconds() < 1
    assert abs(record.billsec - (result.ended_at - result.answered_at)) <= 1
    assert record.hangup_cause == "NORMAL_CLEARING"
    assert world.activity(record.id) == {("answered", ann, None), ("answered", None, world.ids["line_a"])}
    keys = _raw_event_ids(world, record.call_key)
    assert len(keys) == len(set(keys)), "no raw event twice"
    assert [r.id for r in world.records() if r.id > after] == [record.id], "one record, not two"
    world.watch.wait_presence(ann, "available", since)
    wait_for("no live channel left", lambda: _answered_channels(world) == 0)


def test_the_pbx_restarted_mid_call_loses_nothing_and_duplicates_nothing(world: EventsWorld) -> None:
    """The PBX restarts while Cat and Ann talk: the call has one record, ended when the PBX went
    down, no raw event twice, no live channel left once the listener is back."""
    after = _last_record_id(world)
    connects = world.listener.count(world.pbx.listener_connected)
    call = world.sipp.start_call("1001", caller="1003", password=world.secrets["1003"], hold=30.0, timeout=40)
    wait_for("the answered call in the live channels", lambda: _answered_channels(world) >= 2)
    restarted_at = time.time()
    world.pbx.sandbox.restart()
    call.wait()
    world.listener.wait_log(world.pbx.listener_connected, connects + 1, timeout=60)
    record = world.wait_record("the record of the call cut by the restart", lambda r: r.id > after, 30)
    assert record.ended_at is not None and record.missed is False
    assert record.caller_user_id == world.user_id("1003") and record.answered_by_user_id == world.user_id(
        "1001"
    )
    assert abs(record.ended_at - _naive(restarted_at)).total_seconds() < 2, (record.ended_at, restarted_at)
    assert record.hangup_cause, "the cause the PBX gave as it shut down"
    wait_for("no live channel left", lambda: _answered_channels(world) == 0, 30)
    keys = _raw_event_ids(world, record.call_key)
    assert len(keys) == len(set(keys)), "no raw event twice"
    assert [r.id for r in world.records() if r.id > after] == [record.id], "one record, not two"


def test_the_listener_ran_without_errors(world: EventsWorld) -> None:
    log = world.listener.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]
    assert world.listener.process is not None and world.listener.process.poll() is None
    assert "exited" not in log, "`switchboard listen` never had to restart its listener"
