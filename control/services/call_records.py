"""Derive one CallRecord from the raw events of a call, idempotently.

A call is every channel sharing one correlation key (the PBX's linked id). The record is
(re)built from the stored raw events, so running it twice, or after a replay, gives the same row.

The ring group and queue of a record are what the call reached, as its events tell: the marks the
rendered dialplan sets on entering one (FreeSWITCH: sb_ring_group / sb_queue in the hang-up), the
Switchboard extension a channel was in when it hung up (its context and extension), the queue of
its queue events. Never the line's current destination: a paused line or a number that routes
nowhere reached no queue, whatever the line says now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Select, String, bindparam, cast, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from control import effects
from control.errors import Invalid
from control.events import (
    CallDetailRecord,
    CallDisposition,
    CallEvent,
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
    RingGroupMember,
    Tenant,
    User,
)
from control.phone import parse_number
from control.render import names
from control.services import automation_triggers
from control.services.contacts import match_number
from control.text import clean_text


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
    #: the caller ID the leg showed last: Asterisk sets the presented number after the channel
    #: exists (Set(CALLERID(num)) before dialling out), so the first value is the extension
    presented_number: str | None = None
    #: Switchboard extensions the leg reached (marked ring group / queue, where it hung up)
    reached: list[str] = field(default_factory=list)
    #: the destination the leg had last: a leg FreeSWITCH originated (click-to-call) starts at
    #: the user it rings and enters the dialplan at the target once answered
    last_destination: str | None = None


#: The contexts Switchboard's ring groups and queues live in, on each PBX.
_EXTENSION_CONTEXTS = frozenset({names.FS_DEFAULT_CONTEXT, names.AST_INTERNAL})


def _reached(event: ChannelHangup) -> list[str]:
    where = event.destination_number if event.context in _EXTENSION_CONTEXTS else None
    return [ext for ext in (event.ring_group, event.queue, where) if ext]


def _merge(leg: Leg, event: object) -> None:
    for name in ("extension", "caller_number", "caller_name", "destination_number"):
        value = getattr(event, name, None)
        if value and not getattr(leg, name):
            setattr(leg, name, value)
    leg.presented_number = getattr(event, "caller_number", None) or leg.presented_number
    leg.last_destination = getattr(event, "destination_number", None) or leg.last_destination
    started = getattr(event, "started_at", None)
    if started:
        leg.started_at = min(leg.started_at or started, started)
    if isinstance(event, ChannelAnswered):
        leg.answered_at = event.answered_at or event.occurred_at
    if isinstance(event, ChannelHangup):
        leg.reached.extend(ext for ext in _reached(event) if ext not in leg.reached)
        leg.ended_at = event.ended_at or event.occurred_at
        if event.answered_at:
            leg.answered_at = leg.answered_at or event.answered_at
        leg.hangup_cause = event.hangup_cause or leg.hangup_cause


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) if epoch else None


class _ByExtension:
    """A tenant's users (or ring groups) by extension, read for the extensions a batch of calls
    mentions and then one by one when asked: a tenant may have thousands of them."""

    def __init__(self, session: Session, model: Any, tenant_id: int, extensions: Iterable[str]) -> None:
        self._session = session
        self._model = model
        self._tenant_id = tenant_id
        self._found: dict[str, Any] = {}
        self._load(sorted(set(extensions)))

    def _load(self, extensions: list[str]) -> None:
        model = self._model
        rows = self._session.scalars(
            select(model).where(model.tenant_id == self._tenant_id, model.extension.in_(extensions))
        )
        self._found.update(dict.fromkeys(extensions))
        self._found.update((row.extension, row) for row in rows)

    def get(self, extension: str | None) -> Any:
        if not extension:
            return None
        if extension not in self._found:
            self._load([extension])
        return self._found[extension]

    def __contains__(self, extension: object) -> bool:
        return isinstance(extension, str) and self.get(extension) is not None

    def __getitem__(self, extension: str) -> Any:
        found = self.get(extension)
        if found is None:
            raise KeyError(extension)
        return found


class _Directory:
    """Extension, number and name look-ups for one tenant, cached for one derivation batch."""

    def __init__(self, session: Session, tenant: Tenant, extensions: Iterable[str] = ()) -> None:
        self.session = session
        self.tenant = tenant
        extensions = set(extensions)
        self.users = _ByExtension(session, User, tenant.id, extensions)
        self.groups = _ByExtension(session, RingGroup, tenant.id, extensions)
        self.queues = {
            q.extension: q for q in session.scalars(select(Queue).where(Queue.tenant_id == tenant.id))
        }
        self.queue_names = {q.name: q for q in self.queues.values()}
        self.queue_pbx_names = {names.ast_queue(ext): q for ext, q in self.queues.items()}
        self._e164: dict[str, str | None] = {}
        self._numbers: dict[str, PhoneNumber | None] = {}

    def e164(self, number: str | None) -> str | None:
        if not number or len(number) < 6:
            return None
        if number not in self._e164:
            try:
                self._e164[number] = parse_number(number, self.tenant.default_country).e164
            except Invalid:
                self._e164[number] = None
        return self._e164[number]

    def tenant_number(self, number: str | None) -> PhoneNumber | None:
        e164 = self.e164(number)
        if e164 is None:
            return None
        if e164 not in self._numbers:
            self._numbers[e164] = self.session.scalar(
                select(PhoneNumber).where(PhoneNumber.tenant_id == self.tenant.id, PhoneNumber.e164 == e164)
            )
        return self._numbers[e164]

    def queue_named(self, pbx_name: str) -> Queue | None:
        """The queue a PBX queue event names: FreeSWITCH's <extension or name>@<domain>,
        Asterisk's queue-<extension>."""
        local = pbx_name.split("@")[0]
        return self.queues.get(local) or self.queue_names.get(local) or self.queue_pbx_names.get(pbx_name)

    def internal(self, number: str | None) -> bool:
        return bool(number) and (number in self.users or number in self.groups or number in self.queues)


def derive(
    session: Session, node: PbxNode, call_key: str, ended_fallback: float | None = None
) -> CallRecord | None:
    """Build (or rebuild) the record of `call_key` on `node` from its raw events."""
    return derive_many(session, node, {call_key: ended_fallback}).get(call_key)


def derive_many(session: Session, node: PbxNode, calls: Mapping[str, float | None]) -> dict[str, CallRecord]:
    """`derive` for several calls of one node (call key -> ended fallback) that reads their raw
    events, their records and the tenant's directory once: the event pipeline derives every
    call that ended in a batch of events together."""
    keys = list(calls)
    if not keys:
        return {}
    events: dict[str, list[CallEvent]] = {key: [] for key in keys}
    for call_key, payload in session.execute(_stored_events(session, node, keys)):
        events[call_key].append(event_from_dict(payload))
    records = {
        record.call_key: record
        for record in session.scalars(
            select(CallRecord).where(CallRecord.node_id == node.id, CallRecord.call_key.in_(keys))
        )
    }
    directory: _Directory | None = None
    derived: dict[str, CallRecord] = {}
    for key in keys:
        if not events[key]:
            continue
        if directory is None:
            directory = _Directory(session, session.get_one(Tenant, node.tenant_id), _extensions(events))
        record = _derive_one(session, node, directory, key, events[key], records.get(key), calls[key])
        if record is not None:
            derived[key] = record
    if derived:
        session.flush()
        _activities(session, list(derived.values()))
        automation_triggers.calls_ended(session, list(derived.values()))
    return derived


def _extensions(events: Mapping[str, list[CallEvent]]) -> set[str]:
    """Every extension or dialled number the calls mention, to read their users at once."""
    found = set()
    for call in events.values():
        for event in call:
            for name in ("extension", "destination_number", "agent_extension"):
                value = getattr(event, name, None)
                if value:
                    found.add(value)
    return found


def _stored_events(session: Session, node: PbxNode, keys: list[str]) -> Select[tuple[str, Any]]:
    """(call key, stored event without its raw headers) of these calls, in PBX order.

    On PostgreSQL each key is looked up through a LATERAL join, so every look-up uses the whole
    (node, call_key) index whatever the planner's statistics say: raw_events grows fast, and
    before it is analysed an IN list is planned as a scan of all of the node's events."""
    payload = _payload_without_raw(session)
    if session.get_bind().dialect.name != "postgresql":
        return (
            select(RawEvent.call_key, payload)
            .where(RawEvent.node == node.name, RawEvent.call_key.in_(keys))
            .order_by(RawEvent.occurred_at, RawEvent.id)
        )
    wanted = (
        func.unnest(bindparam("call_keys", keys, type_=ARRAY(String)))
        .table_valued("key")
        .render_derived(name="wanted")
    )
    stored = (
        select(RawEvent.call_key, payload.label("payload"), RawEvent.occurred_at, RawEvent.id)
        .where(RawEvent.node == node.name, RawEvent.call_key == wanted.c.key)
        .lateral("stored")
    )
    return (
        select(stored.c.call_key, stored.c.payload)
        .select_from(wanted)
        .join(stored, true())
        .order_by(stored.c.occurred_at, stored.c.id)
    )


def _payload_without_raw(session: Session) -> ColumnElement[Any]:
    """The stored event minus its raw PBX headers, which derivation does not read: a FreeSWITCH
    event's raw headers are most of its bytes."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return type_coerce(cast(RawEvent.payload, JSONB).op("-")("raw"), JSON)
    if dialect == "sqlite":
        return type_coerce(func.json_remove(RawEvent.payload, "$.raw"), JSON)
    return type_coerce(RawEvent.payload, JSON)


def _derive_one(
    session: Session,
    node: PbxNode,
    directory: _Directory,
    call_key: str,
    events: list[CallEvent],
    record: CallRecord | None,
    ended_fallback: float | None,
) -> CallRecord | None:
    legs: dict[str, Leg] = {}
    queue_events: list[QueueCallEvent] = []
    cdrs: list[CallDetailRecord] = []
    for event in events:
        if isinstance(event, QueueCallEvent):
            queue_events.append(event)
        elif isinstance(event, CallDetailRecord):
            cdrs.append(event)
        elif isinstance(event, (ChannelCreated, ChannelAnswered, ChannelHangup)):
            leg = legs.setdefault(event.call_id, Leg(event.call_id, first_seen=event.occurred_at))
            _merge(leg, event)
    if not legs:
        return None
    tenant = directory.tenant
    origin = legs.get(call_key) or min(legs.values(), key=lambda leg: leg.started_at or leg.first_seen)
    others = [leg for leg in legs.values() if leg is not origin]
    dialed = origin.destination_number or ""
    if dialed in ("", "s") and cdrs and cdrs[-1].destination_number:
        # An originated call (click-to-call) starts its first leg at "s": what it dialled is in the CDR.
        dialed = cdrs[-1].destination_number
    elif dialed and dialed == origin.extension and origin.last_destination:
        # FreeSWITCH's originated leg starts at the user it rings (nobody calls themselves); once
        # answered it enters the dialplan at what it dials
        dialed = origin.last_destination
    caller_user = directory.users.get(origin.extension or "")
    answered_legs = sorted((leg for leg in others if leg.answered_at), key=lambda leg: leg.answered_at or 0)
    answered_by = next(
        (directory.users[ext] for leg in answered_legs if (ext := leg.extension) and ext in directory.users),
        None,
    )
    for event in queue_events:
        agent = event.agent_extension
        if event.phase == QueueCallPhase.CONNECTED and agent and agent in directory.users:
            answered_by = answered_by or directory.users[agent]

    number = directory.tenant_number(dialed) if caller_user is None else None
    line = session.get(Line, number.line_id) if number is not None and number.line_id else None
    target_kind = line.destination_kind if line is not None else None
    reached = [ext for leg in (origin, *others) for ext in leg.reached]
    ring_group = next((group for ext in reached if (group := directory.groups.get(ext))), None)
    queue = next((directory.queues[ext] for ext in reached if ext in directory.queues), None)
    for event in queue_events:
        queue = queue or directory.queue_named(event.queue)
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
            (
                candidate
                for candidate in (origin.presented_number, *(leg.caller_number for leg in others))
                if directory.tenant_number(candidate)
            ),
            None,
        )
        number_used = directory.e164(presented) if presented else None
        if number_used:
            used = directory.tenant_number(number_used)
            line = session.get(Line, used.line_id) if used is not None and used.line_id else line

    if record is None:
        record = CallRecord(tenant_id=tenant.id, node_id=node.id, call_key=call_key)
        session.add(record)
    record.direction = direction
    record.missed = missed
    record.line_id = line.id if line else None
    record.line_name = line.name if line else (record.line_name or "")  # a deleted line's name stays
    record.number_used = number_used
    record.caller_number = (origin.caller_number or "")[:64]
    record.caller_name = clean_text(origin.caller_name)
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
    return record


def _activities(session: Session, records: list[CallRecord]) -> None:
    """One item per line and per person concerned: missed, answered or outbound."""
    existing = {
        (item.call_record_id, item.user_id, item.line_id): item
        for item in session.scalars(
            select(ActivityItem).where(ActivityItem.call_record_id.in_([record.id for record in records]))
        )
    }
    group_members = _group_members(
        session, {r.ring_group_id for r in records if r.missed and not r.callee_user_id and r.ring_group_id}
    )
    added: list[ActivityItem] = []
    for record in records:
        wanted: list[tuple[str, int | None, int | None]]
        if record.direction == "outbound":
            wanted = [("outbound", record.caller_user_id, None), ("outbound", None, record.line_id)]
        elif record.missed:
            # A call to a ring group nobody took is missed by each person the group rings.
            missed_by = [record.callee_user_id] if record.callee_user_id else []
            missed_by = missed_by or group_members.get(record.ring_group_id or 0, [])
            wanted = [("missed", user_id, None) for user_id in missed_by] + [("missed", None, record.line_id)]
        else:
            wanted = [("answered", record.answered_by_user_id, None), ("answered", None, record.line_id)]
        for kind, user_id, line_id in wanted:
            if user_id is None and line_id is None:
                continue
            item = existing.get((record.id, user_id, line_id))
            if item is None:
                item = existing[(record.id, user_id, line_id)] = ActivityItem(
                    tenant_id=record.tenant_id,
                    kind=kind,
                    user_id=user_id,
                    line_id=line_id,
                    call_record_id=record.id,
                    created_at=record.started_at,
                )
                session.add(item)
                added.append(item)
            else:
                item.kind = kind
    if added:
        session.flush()
        for item in added:
            effects.record(session, effects.ActivityAdded(item.tenant_id, item.id))


def _group_members(session: Session, group_ids: set[int]) -> dict[int, list[int]]:
    """The users each of these ring groups rings directly, in ring order."""
    members: dict[int, list[int]] = {}
    if not group_ids:
        return members
    for group_id, user_id in session.execute(
        select(RingGroupMember.ring_group_id, RingGroupMember.user_id)
        .where(
            RingGroupMember.ring_group_id.in_(sorted(group_ids)),
            RingGroupMember.kind == "user",
            RingGroupMember.user_id.is_not(None),
        )
        .order_by(RingGroupMember.ring_group_id, RingGroupMember.position)
    ):
        if user_id is not None and user_id not in members.setdefault(group_id, []):
            members[group_id].append(user_id)
    return members
