"""Derive one CallRecord from the raw events of a call, idempotently.

A call is every channel sharing one correlation key (the PBX's linked id). The record is
(re)built from the stored raw events, so running it twice, or after a replay, gives the same row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import effects
from control.errors import Invalid
from control.events import (
    CallDetailRecord,
    CallDisposition,
    ChannelAnswered,
    ChannelCreated,
    ChannelHangup,
    QueueCallEvent,
    QueueCallPhase,
    event_from_dict,
)
from control.models import (
    ActivityItem,
    CallRecord,
    Line,
    PbxNode,
    PhoneNumber,
    Queue,
    RawEvent,
    RingGroup,
    Tenant,
    User,
)
from control.phone import parse_number
from control.services.contacts import match_number


@dataclass
class Leg:
    call_id: str
    extension: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: str | None = None
    first_seen: float = field(default=0.0)


def _merge(leg: Leg, event: object) -> None:
    for name in ("extension", "caller_number", "caller_name", "destination_number"):
        value = getattr(event, name, None)
        if value and not getattr(leg, name):
            setattr(leg, name, value)
    started = getattr(event, "started_at", None)
    if started:
        leg.started_at = min(leg.started_at or started, started)
    if isinstance(event, ChannelAnswered):
        leg.answered_at = event.answered_at or event.occurred_at
    if isinstance(event, ChannelHangup):
        leg.ended_at = event.ended_at or event.occurred_at
        if event.answered_at:
            leg.answered_at = leg.answered_at or event.answered_at
        leg.hangup_cause = event.hangup_cause or leg.hangup_cause


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) if epoch else None


class _Directory:
    """Extension, number and name look-ups for one tenant, cached for one derivation batch."""

    def __init__(self, session: Session, tenant: Tenant) -> None:
        self.session = session
        self.tenant = tenant
        self.users = {
            u.extension: u
            for u in session.scalars(select(User).where(User.tenant_id == tenant.id))
            if u.extension
        }
        self.groups = {
            g.extension: g for g in session.scalars(select(RingGroup).where(RingGroup.tenant_id == tenant.id))
        }
        self.queues = {
            q.extension: q for q in session.scalars(select(Queue).where(Queue.tenant_id == tenant.id))
        }
        self.queue_names = {q.name: q for q in self.queues.values()}

    def e164(self, number: str | None) -> str | None:
        if not number or len(number) < 6:
            return None
        try:
            return parse_number(number, self.tenant.default_country).e164
        except Invalid:
            return None

    def tenant_number(self, number: str | None) -> PhoneNumber | None:
        e164 = self.e164(number)
        if e164 is None:
            return None
        return self.session.scalar(
            select(PhoneNumber).where(PhoneNumber.tenant_id == self.tenant.id, PhoneNumber.e164 == e164)
        )

    def internal(self, number: str | None) -> bool:
        return bool(number) and (number in self.users or number in self.groups or number in self.queues)


def derive(
    session: Session, node: PbxNode, call_key: str, ended_fallback: float | None = None
) -> CallRecord | None:
    """Build (or rebuild) the record of `call_key` on `node` from its raw events."""
    rows = session.scalars(
        select(RawEvent)
        .where(RawEvent.node == node.name, RawEvent.call_key == call_key)
        .order_by(RawEvent.occurred_at, RawEvent.id)
    ).all()
    legs: dict[str, Leg] = {}
    queue_events: list[QueueCallEvent] = []
    cdrs: list[CallDetailRecord] = []
    for row in rows:
        event = event_from_dict(row.payload)
        if isinstance(event, QueueCallEvent):
            queue_events.append(event)
        elif isinstance(event, CallDetailRecord):
            cdrs.append(event)
        elif isinstance(event, (ChannelCreated, ChannelAnswered, ChannelHangup)):
            leg = legs.setdefault(event.call_id, Leg(event.call_id, first_seen=event.occurred_at))
            _merge(leg, event)
    if not legs:
        return None
    tenant = session.get(Tenant, node.tenant_id)
    directory = _Directory(session, tenant)
    origin = legs.get(call_key) or min(legs.values(), key=lambda leg: leg.started_at or leg.first_seen)
    others = [leg for leg in legs.values() if leg is not origin]
    dialed = origin.destination_number or ""
    caller_user = directory.users.get(origin.extension or "")
    answered_legs = sorted((leg for leg in others if leg.answered_at), key=lambda leg: leg.answered_at or 0)
    answered_by = next(
        (directory.users[leg.extension] for leg in answered_legs if leg.extension in directory.users), None
    )
    for event in queue_events:
        if event.phase == QueueCallPhase.CONNECTED and event.agent_extension in directory.users:
            answered_by = answered_by or directory.users[event.agent_extension]

    number = directory.tenant_number(dialed) if caller_user is None else None
    line = session.get(Line, number.line_id) if number is not None and number.line_id else None
    target_kind, target_ext = None, dialed
    if line is not None:
        target_kind = line.destination_kind
    ring_group = directory.groups.get(target_ext) or (
        session.get(RingGroup, line.destination_ring_group_id)
        if line and line.destination_ring_group_id
        else None
    )
    queue = directory.queues.get(target_ext) or (
        session.get(Queue, line.destination_queue_id) if line and line.destination_queue_id else None
    )
    for event in queue_events:
        queue = queue or directory.queue_names.get(event.queue.split("@")[0])
    callee_user = directory.users.get(dialed) or (
        session.get(User, line.destination_user_id) if line and line.destination_user_id else None
    )

    if caller_user is None:
        direction = "inbound"
    elif directory.internal(dialed) or directory.e164(dialed) is None:
        direction = "internal"  # another extension, or a feature code such as an echo test
    else:
        direction = "outbound"

    routed_to_people = bool(
        callee_user or ring_group or queue or target_kind in ("user", "ring_group", "queue")
    )
    if answered_legs or answered_by:
        answered_at = answered_legs[0].answered_at if answered_legs else origin.answered_at
    elif origin.answered_at and not routed_to_people and direction != "outbound":
        answered_at = origin.answered_at  # an application (echo, IVR) answered the caller
    elif direction == "outbound" and origin.answered_at and not others:
        answered_at = origin.answered_at
    else:
        answered_at = None
    for cdr in cdrs:
        if cdr.disposition == CallDisposition.ANSWERED and answered_at is None and not routed_to_people:
            answered_at = cdr.answered_at
    missed = answered_at is None and direction != "outbound"

    started = min((leg.started_at or leg.first_seen) for leg in legs.values())
    ended_values = [leg.ended_at for leg in legs.values() if leg.ended_at]
    ended = max(ended_values) if ended_values else ended_fallback
    number_used = number.e164 if number is not None else None
    if direction == "outbound":
        presented = next(
            (leg.caller_number for leg in others if directory.tenant_number(leg.caller_number)), None
        )
        number_used = directory.e164(presented) if presented else None
        if number_used:
            used = directory.tenant_number(number_used)
            line = session.get(Line, used.line_id) if used is not None and used.line_id else line

    record = session.scalar(
        select(CallRecord).where(CallRecord.node_id == node.id, CallRecord.call_key == call_key)
    )
    if record is None:
        record = CallRecord(tenant_id=tenant.id, node_id=node.id, call_key=call_key)
        session.add(record)
    record.direction = direction
    record.missed = missed
    record.line_id = line.id if line else None
    record.number_used = number_used
    record.caller_number = (origin.caller_number or "")[:64]
    record.caller_name = (origin.caller_name or "")[:120]
    record.callee_number = dialed[:64]
    record.caller_user_id = caller_user.id if caller_user else None
    record.callee_user_id = callee_user.id if callee_user else None
    record.answered_by_user_id = answered_by.id if answered_by else None
    record.ring_group_id = ring_group.id if ring_group else None
    record.queue_id = queue.id if queue else None
    record.started_at = _when(started) or datetime.now(UTC).replace(tzinfo=None)
    record.answered_at = _when(answered_at)
    record.ended_at = _when(ended)
    record.duration = int(round(ended - started)) if ended else 0
    record.billsec = int(round(ended - answered_at)) if ended and answered_at else 0
    record.hangup_cause = (origin.hangup_cause or "")[:40]
    if direction == "inbound":
        contact = match_number(session, tenant.id, directory.e164(origin.caller_number) or "")
        record.caller_contact_id = contact.id if contact else None
    elif direction == "outbound":
        contact = match_number(
            session, tenant.id, directory.e164(dialed) or "", caller_user.id if caller_user else None
        )
        record.callee_contact_id = contact.id if contact else None
    session.flush()
    _activity(session, record)
    return record


def _activity(session: Session, record: CallRecord) -> None:
    """One item per line and per person concerned: missed, answered or outbound."""
    if record.direction == "outbound":
        wanted = [("outbound", record.caller_user_id, None), ("outbound", None, record.line_id)]
    elif record.missed:
        wanted = [("missed", record.callee_user_id, None), ("missed", None, record.line_id)]
    else:
        wanted = [("answered", record.answered_by_user_id, None), ("answered", None, record.line_id)]
    for kind, user_id, line_id in wanted:
        if user_id is None and line_id is None:
            continue
        exists = session.scalar(
            select(ActivityItem).where(
                ActivityItem.call_record_id == record.id,
                ActivityItem.user_id.is_(None) if user_id is None else ActivityItem.user_id == user_id,
                ActivityItem.line_id.is_(None) if line_id is None else ActivityItem.line_id == line_id,
            )
        )
        if exists is None:
            item = ActivityItem(
                tenant_id=record.tenant_id,
                kind=kind,
                user_id=user_id,
                line_id=line_id,
                call_record_id=record.id,
                created_at=record.started_at,
            )
            session.add(item)
            session.flush()
            effects.record(session, effects.ActivityAdded(record.tenant_id, item.id))
        else:
            exists.kind = kind
