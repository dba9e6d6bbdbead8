"""Activity per line and per user: missed, answered and outbound calls (each with its call
record), texts (each with its message) and callback tasks automations leave on a line."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from control.errors import NotFound
from control.models import ActivityItem, CallRecord, TextMessage, User
from control.phone import digits_only
from control.services import audit
from control.services.calls import search_clause
from control.services.listing import Page, like_pattern, paginate

KINDS = ("missed", "answered", "outbound", "text", "callback")


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
) -> Page[tuple[ActivityItem, CallRecord | None, TextMessage | None]]:
    """One page of activity (newest first), filtered by line, user, kind and a search (a name or
    any digits of a number, as in call history; a text's or a task's numbers and words)."""
    stmt = (
        select(ActivityItem, CallRecord, TextMessage)
        .outerjoin(CallRecord, CallRecord.id == ActivityItem.call_record_id)
        .outerjoin(TextMessage, TextMessage.id == ActivityItem.text_message_id)
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
        pattern = like_pattern(q.strip()[:80].lower())
        numbers = like_pattern(digits_only(q)) if digits_only(q) else None
        others = [TextMessage.body.ilike(pattern, escape="\\")]
        if numbers:
            others += [
                TextMessage.from_number.like(numbers, escape="\\"),
                TextMessage.to_number.like(numbers, escape="\\"),
                ActivityItem.number.like(numbers, escape="\\"),
            ]
        stmt = stmt.where(or_(matching, *others))
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


def get_row(
    session: Session, tenant_id: int, item_id: int
) -> tuple[ActivityItem, CallRecord | None, TextMessage | None]:
    item = session.get(ActivityItem, item_id)
    if item is None or item.tenant_id != tenant_id:
        raise NotFound("activity", item_id)
    call = session.get(CallRecord, item.call_record_id) if item.call_record_id else None
    message = session.get(TextMessage, item.text_message_id) if item.text_message_id else None
    return item, call, message
