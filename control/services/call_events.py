"""Apply normalised PBX events: keep them raw, track live channels and registrations,
update presence, and derive the call record when a call's last channel hangs up."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from control.events import (
    CallDetailRecord,
    CallEvent,
    ChannelAnswered,
    ChannelCreated,
    ChannelHangup,
    PbxEvent,
    Registration,
    RegistrationState,
    Snapshot,
    event_to_dict,
)
from control.models import LiveChannel, PbxNode, RawEvent, SipRegistration, User
from control.services import call_records, presence


class UnknownNode(LookupError):
    pass


def call_key_of(event: PbxEvent) -> str | None:
    """The correlation key of a call: the PBX's linked id, else the channel's own id."""
    key = getattr(event, "linked_id", None) or getattr(event, "call_id", None)
    return str(key)[:80] if key else None


class EventApplier:
    """Applies events of one node inside a caller-owned session (one batch = one transaction)."""

    def __init__(self, session: Session, node_name: str) -> None:
        self.session = session
        node = session.scalar(select(PbxNode).where(PbxNode.name == node_name))
        if node is None:
            raise UnknownNode(node_name)
        self.node = node
        self._users: dict[str, User] | None = None

    def user(self, extension: str | None) -> User | None:
        if not extension:
            return None
        if self._users is None:
            self._users = {
                u.extension: u
                for u in self.session.scalars(select(User).where(User.tenant_id == self.node.tenant_id))
                if u.extension
            }
        return self._users.get(extension)

    def apply_all(self, events: Iterable[CallEvent]) -> int:
        """Store and apply the events not seen before; returns how many were new."""
        events = list(events)
        seen = set(
            self.session.scalars(
                select(RawEvent.event_id).where(
                    RawEvent.node == self.node.name, RawEvent.event_id.in_([e.event_id for e in events])
                )
            )
        )
        fresh = 0
        for event in events:
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            self._store(event)
            self._apply(event)
            fresh += 1
        return fresh

    def _store(self, event: CallEvent) -> None:
        self.session.add(
            RawEvent(
                node=self.node.name,
                event_id=event.event_id[:160],
                kind=type(event).__name__,
                call_key=call_key_of(event),
                occurred_at=event.occurred_at,
                payload=event_to_dict(event),
            )
        )

    def _apply(self, event: CallEvent) -> None:
        if isinstance(event, ChannelCreated):
            user = self.user(event.extension)
            self.session.merge(
                LiveChannel(
                    node=self.node.name,
                    call_id=event.call_id,
                    call_key=call_key_of(event) or event.call_id,
                    user_id=user.id if user else None,
                    answered=False,
                    started_at=event.started_at or event.occurred_at,
                )
            )
            self.session.flush()
            self._refresh_presence(user)
        elif isinstance(event, ChannelAnswered):
            channel = self.session.get(LiveChannel, (self.node.name, event.call_id))
            if channel is not None:
                channel.answered = True
                self.session.flush()
                self._refresh_presence(self.session.get(User, channel.user_id) if channel.user_id else None)
        elif isinstance(event, ChannelHangup):
            channel = self.session.get(LiveChannel, (self.node.name, event.call_id))
            user = (
                self.session.get(User, channel.user_id)
                if channel and channel.user_id
                else self.user(event.extension)
            )
            if channel is not None:
                self.session.delete(channel)
            self.session.flush()
            self._refresh_presence(user)
            self._derive_if_over(call_key_of(event) or event.call_id, event.occurred_at)
        elif isinstance(event, CallDetailRecord):
            self._derive_if_over(call_key_of(event) or event.call_id, event.occurred_at)
        elif isinstance(event, Registration):
            self._registration(event)

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
        if event.state == RegistrationState.REGISTERED:
            self.session.merge(
                SipRegistration(
                    node=self.node.name, user_id=user.id, contact=contact, expires_at=event.expires_at
                )
            )
        else:
            stmt = delete(SipRegistration).where(
                SipRegistration.node == self.node.name, SipRegistration.user_id == user.id
            )
            if contact and event.state != RegistrationState.EXPIRED:
                stmt = stmt.where(SipRegistration.contact == contact)
            self.session.execute(stmt)
        self.session.flush()
        self._refresh_presence(user)

    def _refresh_presence(self, user: User | None) -> None:
        if user is None:
            return
        registrations = (
            self.session.scalar(select(func.count()).where(SipRegistration.user_id == user.id)) or 0
        )
        answered = (
            self.session.scalar(
                select(func.count()).where(LiveChannel.user_id == user.id, LiveChannel.answered.is_(True))
            )
            or 0
        )
        ringing = (
            self.session.scalar(
                select(func.count()).where(LiveChannel.user_id == user.id, LiveChannel.answered.is_(False))
            )
            or 0
        )
        line_state = (
            "unregistered"
            if registrations == 0
            else "in_call"
            if answered
            else "ringing"
            if ringing
            else "idle"
        )
        presence.set_line_state(
            self.session, user, registrations=registrations, active_calls=answered, line_state=line_state
        )

    def resync(self, snapshot: Snapshot) -> None:
        """Replace the live state the snapshot read; calls that ended unseen get their records."""
        affected: set[int] = set()
        if "channels" in snapshot.parts:
            live = {c.call_id: c for c in snapshot.channels}
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
        self.session.flush()
        for user_id in affected:
            self._refresh_presence(self.session.get(User, user_id))


def rebuild_call(session: Session, node_name: str, call_key: str) -> None:
    """Re-derive one call record from its kept raw events (history rebuild)."""
    applier = EventApplier(session, node_name)
    call_records.derive(session, applier.node, call_key)
