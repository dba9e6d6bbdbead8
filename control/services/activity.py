"""Activity per line and per user: missed, answered and outbound calls, each with its call record."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import NotFound
from control.models import ActivityItem, CallRecord, User
from control.services import audit

KINDS = ("missed", "answered", "outbound")


def list_activity(
    session: Session,
    tenant_id: int,
    *,
    line_id: int | None = None,
    user_id: int | None = None,
    include_archived: bool = False,
    limit: int = 100,
) -> list[tuple[ActivityItem, CallRecord]]:
    stmt = (
        select(ActivityItem, CallRecord)
        .join(CallRecord, CallRecord.id == ActivityItem.call_record_id)
        .where(ActivityItem.tenant_id == tenant_id)
        .order_by(ActivityItem.created_at.desc(), ActivityItem.id.desc())
        .limit(limit)
    )
    if line_id is not None:
        stmt = stmt.where(ActivityItem.line_id == line_id)
    if user_id is not None:
        stmt = stmt.where(ActivityItem.user_id == user_id)
    if not include_archived:
        stmt = stmt.where(ActivityItem.archived.is_(False))
    return [(item, call) for item, call in session.execute(stmt)]


def archive(session: Session, tenant_id: int, item_id: int, actor: User | None) -> ActivityItem:
    """Hide an activity item (seed: Archive); the call record itself stays in history."""
    item = session.get(ActivityItem, item_id)
    if item is None or item.tenant_id != tenant_id:
        raise NotFound("activity", item_id)
    if actor is not None and actor.role != "admin" and item.user_id != actor.id:
        raise NotFound("activity", item_id)
    item.archived = True
    audit.write(session, actor, "activity.archive", item)
    return item
