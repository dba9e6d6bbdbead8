"""Activity per line and per user: missed, answered and outbound calls, each with its call record."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import NotFound
from control.models import ActivityItem, CallRecord, User
from control.services import audit
from control.services.calls import search_clause
from control.services.listing import Page, paginate

KINDS = ("missed", "answered", "outbound")


SORTS = {"when": ActivityItem.created_at}


def page_activity(
    session: Session,
    tenant_id: int,
    *,
    line_id: int | None = None,
    user_id: int | None = None,
    include_archived: bool = False,
    q: str = "",
    kind: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page[tuple[ActivityItem, CallRecord]]:
    """One page of activity (newest first), filtered by line, user, kind and a call search
    (a name or any digits of a number, as in call history)."""
    stmt = (
        select(ActivityItem, CallRecord)
        .join(CallRecord, CallRecord.id == ActivityItem.call_record_id)
        .where(ActivityItem.tenant_id == tenant_id)
    )
    if line_id is not None:
        stmt = stmt.where(ActivityItem.line_id == line_id)
    if user_id is not None:
        stmt = stmt.where(ActivityItem.user_id == user_id)
    if not include_archived:
        stmt = stmt.where(ActivityItem.archived.is_(False))
    if kind in KINDS:
        stmt = stmt.where(ActivityItem.kind == kind)
    if (matching := search_clause(tenant_id, q)) is not None:
        stmt = stmt.where(matching)
    return paginate(
        session,
        stmt,
        page=page,
        per_page=per_page,
        sort="-when",
        sorts=SORTS,
        default_sort="-when",
        rows=True,
    )


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
