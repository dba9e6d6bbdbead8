"""Broadcasts: a voice or text message from a line to contacts chosen by tag or by name."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from control.errors import Invalid, NotFound
from control.models import Broadcast, Contact, Line, Tag, User
from control.models.broadcasts import BROADCAST_KINDS, BROADCAST_STATUSES, IF_MISSED
from control.services import audit
from control.services.listing import Page, like_pattern, paginate, status_counts
from control.validators import (
    BROADCAST_RETRIES,
    BROADCAST_RETRY_DELAY,
    BROADCAST_RING,
    Errors,
    add,
    choice,
    id_list,
    integer,
    optional_id,
    text,
    when,
)

MESSAGE_LIMITS = {"text": 1600, "voice": 4000}  # characters
SORTS = {
    "name": Broadcast.name,
    "status": Broadcast.status,
    "scheduled": Broadcast.scheduled_at,
    "created": Broadcast.created_at,
}
#: A broadcast's content and audience can change until it starts.
EDITABLE = ("draft", "scheduled", "missed")


def get_broadcast(session: Session, tenant_id: int, broadcast_id: int) -> Broadcast:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.tenant_id != tenant_id:
        raise NotFound("broadcast", broadcast_id)
    return broadcast


def list_broadcasts(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    status: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Broadcast]:
    stmt = (
        select(Broadcast)
        .where(Broadcast.tenant_id == tenant_id)
        .options(selectinload(Broadcast.tags), selectinload(Broadcast.contacts))
    )
    if q:
        stmt = stmt.where(func.lower(Broadcast.name).like(like_pattern(q.lower()), escape="\\"))
    if status in BROADCAST_STATUSES:
        stmt = stmt.where(Broadcast.status == status)
    if kind in BROADCAST_KINDS:
        stmt = stmt.where(Broadcast.kind == kind)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="-created"
    )


def broadcast_status_counts(session: Session, tenant_id: int) -> dict[str, int]:
    counts = status_counts(session, Broadcast.status, Broadcast.tenant_id, tenant_id)
    return {s: 0 for s in BROADCAST_STATUSES} | counts


def _apply(session: Session, broadcast: Broadcast, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    broadcast.name = text(errors, data, "name", required=True)
    broadcast.kind = choice(errors, data, "kind", BROADCAST_KINDS, broadcast.kind or "voice")
    message = str(data.get("message") or "").strip()
    limit = MESSAGE_LIMITS["text" if broadcast.kind == "text" else "voice"]
    if not message:
        add(errors, "message", "Write the message to send.")
    elif len(message) > limit:
        add(errors, "message", f"At most {limit} characters.")
    broadcast.message = message
    line_id = optional_id(errors, data, "line_id")
    if line_id is not None:
        line = session.get(Line, line_id)
        if line is None or line.tenant_id != tenant_id:
            add(errors, "line_id", "Choose a line of this tenant.")
    broadcast.line_id = line_id
    broadcast.scheduled_at = when(errors, data, "scheduled_at")
    broadcast.if_missed = choice(errors, data, "if_missed", IF_MISSED, broadcast.if_missed or "start")
    broadcast.retry_count = integer(errors, data, "retry_count", 2, *BROADCAST_RETRIES)
    broadcast.retry_delay = integer(errors, data, "retry_delay", 300, *BROADCAST_RETRY_DELAY)
    broadcast.ring_seconds = integer(errors, data, "ring_seconds", 30, *BROADCAST_RING)
    tag_ids = id_list(errors, data, "tag_ids")
    contact_ids = id_list(errors, data, "contact_ids")
    tags = list(session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids))))
    contacts = list(
        session.scalars(select(Contact).where(Contact.tenant_id == tenant_id, Contact.id.in_(contact_ids)))
    )
    if len(tags) != len(set(tag_ids)):
        add(errors, "tag_ids", "Choose tags of this tenant.")
    if len(contacts) != len(set(contact_ids)):
        add(errors, "contact_ids", "Choose contacts of this tenant.")
    if not tags and not contacts:
        add(errors, "tag_ids", "Choose an audience: tags, contacts or both.")
    broadcast.tags, broadcast.contacts = tags, contacts
    if errors:
        raise Invalid(errors)


def broadcast_data(broadcast: Broadcast) -> dict:
    return {
        "name": broadcast.name,
        "kind": broadcast.kind,
        "message": broadcast.message,
        "line_id": broadcast.line_id,
        "scheduled_at": broadcast.scheduled_at,
        "if_missed": broadcast.if_missed,
        "retry_count": broadcast.retry_count,
        "retry_delay": broadcast.retry_delay,
        "ring_seconds": broadcast.ring_seconds,
        "tag_ids": [t.id for t in broadcast.tags],
        "contact_ids": [c.id for c in broadcast.contacts],
    }


def create_broadcast(session: Session, tenant_id: int, data: dict, actor: User | None) -> Broadcast:
    broadcast = Broadcast(tenant_id=tenant_id, status="draft")
    with session.no_autoflush:
        _apply(session, broadcast, tenant_id, data)
    session.add(broadcast)
    session.flush()
    audit.write(session, actor, "broadcast.create", broadcast)
    return broadcast


def get_editable(session: Session, tenant_id: int, broadcast_id: int, field: str = "status") -> Broadcast:
    """A broadcast that has not started (its content and audience may change)."""
    broadcast = get_broadcast(session, tenant_id, broadcast_id)
    if broadcast.status not in EDITABLE:
        raise Invalid(f"A {broadcast.status} broadcast cannot be edited.", field)
    return broadcast


def update_broadcast(
    session: Session, tenant_id: int, broadcast_id: int, data: dict, actor: User | None
) -> Broadcast:
    broadcast = get_editable(session, tenant_id, broadcast_id)
    with session.no_autoflush:
        _apply(session, broadcast, tenant_id, broadcast_data(broadcast) | dict(data))
    session.flush()
    audit.write(session, actor, "broadcast.update", broadcast)
    return broadcast


def audience(session: Session, broadcast: Broadcast) -> list[Contact]:
    """Every contact the broadcast reaches: chosen contacts plus everyone with a chosen tag."""
    tag_ids = [t.id for t in broadcast.tags]
    chosen = {c.id: c for c in broadcast.contacts}
    if tag_ids:
        for contact in session.scalars(
            select(Contact).where(
                Contact.tenant_id == broadcast.tenant_id, Contact.tags.any(Tag.id.in_(tag_ids))
            )
        ):
            chosen.setdefault(contact.id, contact)
    return sorted(chosen.values(), key=lambda c: c.id)


def delete_broadcast(session: Session, tenant_id: int, broadcast_id: int, actor: User | None) -> None:
    broadcast = get_broadcast(session, tenant_id, broadcast_id)
    audit.write(session, actor, "broadcast.delete", broadcast, name=broadcast.name)
    session.delete(broadcast)
    session.flush()
