"""Apply normalised PBX events: keep them raw, track live channels and registrations,
update presence, and derive the call record when a call's last channel hangs up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Table, delete, func, or_, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from control.db import utcnow
from control.events import (
    ActiveChannel,
    CallDetailRecord,
    CallEvent,
    ChannelAnswered,
    ChannelCreated,
    ChannelHangup,
    ChannelState,
    PbxEvent,
    Registration,
    RegistrationState,
    Snapshot,
    event_to_dict,
)
from control.models import LiveChannel, PbxNode, PresenceState, RawEvent, SipRegistration, User
from control.services import call_records, presence

#: One statement, one parameter: the batch as a JSON array of rows. A multi-row VALUES list
#: costs more to build and to parse than the insert itself, and text-format arrays of JSON
#: strings cost more to escape.
_INSERT_RAW_EVENTS_PG = text(
    "INSERT INTO raw_events (node, event_id, kind, call_key, occurred_at, payload, received_at) "
    "SELECT :node, e.event_id, e.kind, e.call_key, e.occurred_at, e.payload, :received_at "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "AS e(event_id varchar, kind varchar, call_key varchar, occurred_at float8, payload json) "
    "ON CONFLICT (node, event_id) DO NOTHING RETURNING event_id"
)


_RECORDSET_KEYS = ("event_id", "kind", "call_key", "occurred_at", "payload")


class UnknownNode(LookupError):
    pass


def call_key_of(event: PbxEvent) -> str | None:
    """The correlation key of a call: the PBX's linked id, else the channel's own id."""
    key = getattr(event, "linked_id", None) or getattr(event, "call_id", None)
    return str(key)[:80] if key else None


class EventApplier:
    """Applies events of one node inside a caller-owned session (one batch = one transaction).

    ``apply_all`` works per batch: the raw events go in with one INSERT ... ON CONFLICT DO
    NOTHING, the users, live channels and registrations the batch mentions are read once, the
    events are applied in order in memory, and then each call that ended is derived once and each
    user touched gets one presence update. A batch's intermediate presence states are never
    published anyway: effects are dispatched after the commit and read the state then.
    """

    def __init__(self, session: Session, node_name: str) -> None:
        self.session = session
        node = session.scalar(select(PbxNode).where(PbxNode.name == node_name))
        if node is None:
            raise UnknownNode(node_name)
        self.node = node
        self._users: dict[str, User | None] = {}
        self._channels: dict[str, LiveChannel] = {}
        self._up: dict[str, set[str]] = {}
        self._registrations: dict[int, dict[str, SipRegistration]] = {}
        self._touched: set[int] = set()
        self._ended: dict[str, float] = {}

    def user(self, extension: str | None) -> User | None:
        if not extension:
            return None
        if extension not in self._users:
            self._load_users({extension})
        return self._users[extension]

    def _load_users(self, extensions: set[str]) -> None:
        missing = sorted(e for e in extensions if e and e not in self._users)
        if not missing:
            return
        found = {
            u.extension: u
            for u in self.session.scalars(
                select(User).where(User.tenant_id == self.node.tenant_id, User.extension.in_(missing))
            )
        }
        for extension in missing:
            self._users[extension] = found.get(extension)

    def apply_all(self, events: Iterable[CallEvent]) -> int:
        """Store and apply the events not seen before; returns how many were new."""
        fresh = self._store_new(events)
        if not fresh:
            return 0
        self._channels, self._up, self._registrations = {}, {}, {}
        self._load_batch_state(fresh)
        for event in fresh:
            self._apply(event)
        self.session.flush()
        ended, self._ended = self._ended, {}
        call_records.derive_many(self.session, self.node, ended)
        touched, self._touched = self._touched, set()
        self._refresh_presence_of(touched)
        return len(fresh)

    def _store_new(self, events: Iterable[CallEvent]) -> list[CallEvent]:
        """Insert the raw events, skipping (node, event_id) pairs already kept; the new ones, in order."""
        unique: dict[str, CallEvent] = {}
        for event in events:
            unique.setdefault(event.event_id[:160], event)
        if not unique:
            return []
        now = utcnow()
        rows = [
            {
                "node": self.node.name,
                "event_id": event_id,
                "kind": type(event).__name__,
                "call_key": call_key_of(event),
                "occurred_at": event.occurred_at,
                "payload": event_to_dict(event),
                "received_at": now,
            }
            for event_id, event in unique.items()
        ]
        table: Table = RawEvent.__table__  # type: ignore[assignment]  # a mapped class's Table
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            inserted = set(
                self.session.scalars(
                    _INSERT_RAW_EVENTS_PG,
                    {
                        "node": self.node.name,
                        "received_at": now,
                        "rows": orjson.dumps(
                            [{key: row[key] for key in _RECORDSET_KEYS} for row in rows]
                        ).decode(),
                    },
                )
            )
        elif dialect == "sqlite":
            stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["node", "event_id"])
            inserted = set(self.session.scalars(stmt.returning(table.c.event_id), rows))
        else:
            inserted = set(unique) - set(
                self.session.scalars(
                    select(RawEvent.event_id).where(
                        RawEvent.node == self.node.name, RawEvent.event_id.in_(list(unique))
                    )
                )
            )
            self.session.execute(table.insert(), [row for row in rows if row["event_id"] in inserted])
        return [event for event_id, event in unique.items() if event_id in inserted]

    def _load_batch_state(self, events: list[CallEvent]) -> None:
        """Read the users, live channels and registrations the batch refers to, once."""
        extensions: set[str] = set()
        call_ids: set[str] = set()
        call_keys: set[str] = set()
        for event in events:
            extension = getattr(event, "extension", None)
            if extension:
                extensions.add(extension)
            if isinstance(event, (ChannelCreated, ChannelAnswered, ChannelHangup)):
                call_ids.add(event.call_id)
                call_keys.add(call_key_of(event) or event.call_id)
            elif isinstance(event, CallDetailRecord):
                call_keys.add(call_key_of(event) or event.call_id)
        self._load_users(extensions)
        if call_ids or call_keys:
            for channel in self.session.scalars(
                select(LiveChannel).where(
                    LiveChannel.node == self.node.name,
                    or_(
                        LiveChannel.call_id.in_(sorted(call_ids)), LiveChannel.call_key.in_(sorted(call_keys))
                    ),
                )
            ):
                self._channels[channel.call_id] = channel
                self._up.setdefault(channel.call_key, set()).add(channel.call_id)
        user_ids = {
            user.id
            for event in events
            if isinstance(event, Registration) and (user := self._users.get(event.extension)) is not None
        }
        if user_ids:
            for registration in self.session.scalars(
                select(SipRegistration).where(
                    SipRegistration.node == self.node.name, SipRegistration.user_id.in_(sorted(user_ids))
                )
            ):
                self._registrations.setdefault(registration.user_id, {})[registration.contact] = registration
            for user_id in user_ids:
                self._registrations.setdefault(user_id, {})

    def _remove(self, row: LiveChannel | SipRegistration) -> None:
        if row in self.session.new:
            self.session.expunge(row)
        else:
            self.session.delete(row)

    def _apply(self, event: CallEvent) -> None:
        if isinstance(event, ChannelCreated):
            self._channel_created(event)
        elif isinstance(event, ChannelAnswered):
            channel = self._channels.get(event.call_id)
            if channel is not None:
                channel.answered = True
                if channel.user_id:
                    self._touched.add(channel.user_id)
        elif isinstance(event, ChannelHangup):
            channel = self._channels.pop(event.call_id, None)
            if channel is not None:
                self._up.get(channel.call_key, set()).discard(event.call_id)
                self._remove(channel)
                user_id = channel.user_id
            else:
                user = self.user(event.extension)
                user_id = user.id if user else None
            if user_id:
                self._touched.add(user_id)
            self._over_unless_up(call_key_of(event) or event.call_id, event.occurred_at)
        elif isinstance(event, CallDetailRecord):
            self._over_unless_up(call_key_of(event) or event.call_id, event.occurred_at)
        elif isinstance(event, Registration):
            self._registration(event)

    def _channel_created(self, event: ChannelCreated) -> None:
        user = self.user(event.extension)
        call_key = call_key_of(event) or event.call_id
        channel = self._channels.get(event.call_id)
        if channel is None:
            channel = LiveChannel(node=self.node.name, call_id=event.call_id)
            self.session.add(channel)
            self._channels[event.call_id] = channel
        else:
            self._up.get(channel.call_key, set()).discard(event.call_id)
        channel.call_key = call_key
        channel.user_id = user.id if user else None
        channel.answered = False
        channel.started_at = event.started_at or event.occurred_at
        self._up.setdefault(call_key, set()).add(event.call_id)
        if user is not None:
            self._touched.add(user.id)

    def _over_unless_up(self, call_key: str, at: float) -> None:
        """A call whose last channel is gone gets its record derived at the end of the batch."""
        if not self._up.get(call_key):
            self._ended.pop(call_key, None)
            self._ended[call_key] = at

    def _derive_if_over(self, call_key: str, at: float) -> None:
        self.session.flush()
        still_up = self.session.scalar(
            select(func.count()).where(LiveChannel.node == self.node.name, LiveChannel.call_key == call_key)
        )
        if not still_up:
            call_records.derive(self.session, self.node, call_key, ended_fallback=at)

    def _registration(self, event: Registration) -> None:
        user = self.user(event.extension)
        if user is None:
            return
        contact = (event.contact or event.sip_call_id or "")[:500]
        known = self._registrations.setdefault(user.id, {})
        if event.state == RegistrationState.REGISTERED:
            row = known.get(contact)
            if row is None:
                row = known[contact] = SipRegistration(node=self.node.name, user_id=user.id, contact=contact)
                self.session.add(row)
            row.expires_at = event.expires_at
        else:
            gone = [contact] if contact and event.state != RegistrationState.EXPIRED else list(known)
            for key in gone:
                row = known.pop(key, None)
                if row is not None:
                    self._remove(row)
        self._touched.add(user.id)

    def _refresh_presence_of(self, user_ids: set[int]) -> None:
        """Recompute the line state of these users from registrations and live channels."""
        if not user_ids:
            return
        self.session.flush()
        ids = sorted(user_ids)
        registrations: dict[int, int] = {
            user_id: count
            for user_id, count in self.session.execute(
                select(SipRegistration.user_id, func.count())
                .where(SipRegistration.user_id.in_(ids))
                .group_by(SipRegistration.user_id)
            )
        }
        calls: dict[tuple[int, bool], int] = {
            (user_id, bool(answered)): count
            for user_id, answered, count in self.session.execute(
                select(LiveChannel.user_id, LiveChannel.answered, func.count())
                .where(LiveChannel.user_id.in_(ids))
                .group_by(LiveChannel.user_id, LiveChannel.answered)
            )
            if user_id is not None  # the IN above keeps NULLs out; this tells the type checker
        }
        # Loaded into the identity map, so presence.set_line_state finds them without a query.
        list(self.session.scalars(select(PresenceState).where(PresenceState.user_id.in_(ids))))
        for user in self.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)):
            registered = registrations.get(user.id, 0)
            answered = calls.get((user.id, True), 0)
            ringing = calls.get((user.id, False), 0)
            line_state = (
                "unregistered"
                if registered == 0
                else "in_call"
                if answered
                else "ringing"
                if ringing
                else "idle"
            )
            presence.set_line_state(
                self.session, user, registrations=registered, active_calls=answered, line_state=line_state
            )

    def resync(self, snapshot: Snapshot) -> None:
        """Replace the live state the snapshot read; calls that ended unseen get their records,
        with the end, billsec and cause the PBX kept for them (Snapshot.ended) or, for a channel
        the PBX kept nothing of, the snapshot's time."""
        self._load_users(
            {c.extension for c in snapshot.channels if c.extension}
            | {r.extension for r in snapshot.registrations}
        )
        affected: set[int] = set()
        if "channels" in snapshot.parts:
            live = {c.call_id: c for c in snapshot.channels}
            self._apply_kept_ends(snapshot, live)
            for channel in self.session.scalars(
                select(LiveChannel).where(LiveChannel.node == self.node.name)
            ):
                if channel.call_id not in live:
                    if channel.user_id:
                        affected.add(channel.user_id)
                    self.session.delete(channel)
                    self.session.flush()
                    self._derive_if_over(channel.call_key, snapshot.taken_at)
            for active in snapshot.channels:
                user = self.user(active.extension)
                if user:
                    affected.add(user.id)
                self._keep_unseen(active, snapshot)
                self.session.merge(
                    LiveChannel(
                        node=self.node.name,
                        call_id=active.call_id,
                        call_key=(active.linked_id or active.call_id)[:80],
                        user_id=user.id if user else None,
                        answered=active.state.value in ("active", "held"),
                        started_at=active.started_at or snapshot.taken_at,
                    )
                )
        if "registrations" in snapshot.parts:
            affected.update(
                self.session.scalars(
                    select(SipRegistration.user_id).where(SipRegistration.node == self.node.name)
                )
            )
            self.session.execute(delete(SipRegistration).where(SipRegistration.node == self.node.name))
            for registration in snapshot.registrations:
                user = self.user(registration.extension)
                if user is not None and registration.state == RegistrationState.REGISTERED:
                    affected.add(user.id)
                    self.session.merge(
                        SipRegistration(
                            node=self.node.name,
                            user_id=user.id,
                            contact=(registration.contact or registration.sip_call_id or "")[:500],
                            expires_at=registration.expires_at,
                        )
                    )
        self._refresh_presence_of(affected)

    def _apply_kept_ends(self, snapshot: Snapshot, live: dict[str, ActiveChannel]) -> None:
        """The hang-ups the PBX kept for channels this node still had up: applied as the events
        they stand for (the PBX's times), before the channels still missing fall back."""
        if "ended" not in snapshot.parts or not snapshot.ended:
            return
        wanted = {e.call_id: e for e in snapshot.ended if e.call_id not in live}
        calls = self.session.execute(
            select(LiveChannel.call_id, LiveChannel.call_key).where(
                LiveChannel.node == self.node.name, LiveChannel.call_id.in_(sorted(wanted))
            )
        )
        # The PBX kept the channel's own id: its call is the one this node filed it under.
        ended = [dataclasses.replace(wanted[call_id], linked_id=call_key) for call_id, call_key in calls]
        if ended:
            self.apply_all(sorted(ended, key=lambda e: e.occurred_at))

    def _keep_unseen(self, active: ActiveChannel, snapshot: Snapshot) -> None:
        """Keep as raw events what the snapshot proves but no event told (the channel appeared,
        or was answered, while the connection was down): the record derived at hang-up is then
        complete. Their ids are per channel, so later snapshots add nothing twice."""
        known = self.session.get(LiveChannel, (self.node.name, active.call_id))
        common: dict[str, Any] = {
            "node": self.node.name,
            "pbx": snapshot.pbx,
            "call_id": active.call_id,
            "linked_id": active.linked_id,
            "direction": active.direction,
            "channel_name": active.channel_name,
            "extension": active.extension,
            "caller_number": active.caller_number,
            "caller_name": active.caller_name,
            "destination_number": active.destination_number,
        }
        unseen: list[CallEvent] = []
        if known is None:
            started = active.started_at or snapshot.taken_at
            unseen.append(
                ChannelCreated(
                    **common,
                    event_id=f"resync:created:{active.call_id}",
                    occurred_at=started,
                    context=active.context,
                    started_at=started,
                )
            )
        if active.state in (ChannelState.ACTIVE, ChannelState.HELD) and not (known and known.answered):
            unseen.append(
                ChannelAnswered(
                    **common,
                    event_id=f"resync:answered:{active.call_id}",
                    occurred_at=snapshot.taken_at,
                    answered_at=snapshot.taken_at,
                )
            )
        self._store_new(unseen)


def rebuild_call(session: Session, node_name: str, call_key: str) -> None:
    """Re-derive one call record from its kept raw events (history rebuild)."""
    applier = EventApplier(session, node_name)
    call_records.derive(session, applier.node, call_key)
