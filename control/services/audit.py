"""The audit log: who did what to which object, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.models import AuditLog, User
from control.services.listing import Page, paginate

SORTS = {"when": AuditLog.created_at, "action": AuditLog.action}


def write(
    session: Session,
    actor: User | None,
    action: str,
    target: Any = None,
    tenant_id: int | None = None,
    **detail: Any,
) -> AuditLog:
    entry = AuditLog(
        tenant_id=tenant_id
        if tenant_id is not None
        else getattr(target, "tenant_id", None) or getattr(actor, "tenant_id", None),
        actor_id=actor.id if actor else None,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=getattr(target, "id", None),
        detail=detail,
    )
    session.add(entry)
    return entry


def recent(session: Session, tenant_id: int, limit: int = 100) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.tenant_id == tenant_id)
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(limit)
        )
    )


def list_entries(
    session: Session,
    tenant_id: int,
    *,
    action_prefix: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[AuditLog]:
    """Newest first; `action_prefix` "user" matches user.create, user.delete, ..."""
    stmt = select(AuditLog).where(AuditLog.tenant_id == tenant_id)
    prefix = action_prefix.strip()[:40]
    if prefix:
        stmt = stmt.where(AuditLog.action.startswith(prefix, autoescape=True))
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="-when")


def action_families(session: Session, tenant_id: int) -> list[str]:
    """The first segment of every action logged for the tenant ("line", "user", ...)."""
    actions = session.scalars(select(AuditLog.action).where(AuditLog.tenant_id == tenant_id).distinct())
    return sorted({action.split(".", 1)[0] for action in actions})


def actor_names(session: Session, entries: list[AuditLog]) -> dict[int, str]:
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}
