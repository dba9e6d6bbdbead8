"""Call-center queues and their members' presence in each queue."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from control.errors import Conflict, Invalid, NotFound
from control.models import Line, Queue, QueueMember, Tenant, User
from control.models.queues import QUEUE_STRATEGIES
from control.services import audit, commands, config_changes, destinations, extensions
from control.services.listing import Page, like_pattern, paginate
from control.services.tenants import get_tenant
from control.validators import (
    QUEUE_MAX_WAIT,
    QUEUE_RING_TIMEOUT,
    QUEUE_WRAP_UP,
    Errors,
    add,
    boolean,
    choice,
    extension,
    integer,
    row_id,
    text,
)

SORTS = {"name": Queue.name, "extension": Queue.extension, "strategy": Queue.strategy}


def get_queue(session: Session, tenant_id: int, queue_id: int) -> Queue:
    queue = session.get(Queue, queue_id)
    if queue is None or queue.tenant_id != tenant_id:
        raise NotFound("queue", queue_id)
    return queue


def list_queues(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    strategy: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Queue]:
    stmt = select(Queue).where(Queue.tenant_id == tenant_id).options(selectinload(Queue.members))
    if q:
        pattern = like_pattern(q.lower())
        stmt = stmt.where(
            or_(func.lower(Queue.name).like(pattern, escape="\\"), Queue.extension.like(pattern, escape="\\"))
        )
    if strategy in QUEUE_STRATEGIES:
        stmt = stmt.where(Queue.strategy == strategy)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="extension"
    )


def all_queues(session: Session, tenant_id: int) -> list[Queue]:
    return list(session.scalars(select(Queue).where(Queue.tenant_id == tenant_id).order_by(Queue.name)))


def _apply(session: Session, queue: Queue, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    tenant = get_tenant(session, tenant_id)
    queue.name = text(errors, data, "name", required=True)
    queue.extension = extension(errors, data) or ""
    queue.strategy = choice(errors, data, "strategy", QUEUE_STRATEGIES, queue.strategy or "longest_idle")
    queue.wrap_up_time = integer(errors, data, "wrap_up_time", 10, *QUEUE_WRAP_UP)
    queue.max_wait = integer(errors, data, "max_wait", 300, *QUEUE_MAX_WAIT)
    queue.ring_timeout = integer(errors, data, "ring_timeout", 15, *QUEUE_RING_TIMEOUT)
    extensions.check_free(session, errors, tenant_id, queue.extension, own=queue)
    destinations.apply(session, errors, tenant, queue, "fallback", data, required=False)
    raw_members = data.get("members")
    if raw_members is not None:
        members: list[QueueMember] = []
        seen: set[int] = set()
        existing = {m.user_id: m for m in queue.members}
        for index, raw in enumerate(raw_members):
            raw = dict(raw)
            user_id = row_id(raw.get("user_id")) or 0
            user = session.get(User, user_id)
            if user is None or user.tenant_id != tenant_id:
                add(errors, f"members-{index}-user_id", "Choose a user of this tenant.")
                continue
            if not user.extension:
                add(errors, f"members-{index}-user_id", f"{user.name} has no extension.")
                continue
            if user.id in seen:
                add(errors, f"members-{index}-user_id", f"{user.name} is listed twice.")
                continue
            seen.add(user.id)
            member = existing.get(user.id) or QueueMember(user_id=user.id)
            member.position = index
            member.active = boolean(raw, "active", True)
            members.append(member)
        if not errors:
            queue.members = members
    if errors:
        raise Invalid(errors)


def member_data(queue: Queue) -> list[dict]:
    return [{"user_id": m.user_id, "active": m.active} for m in queue.members]


def _current(queue: Queue) -> dict:
    return {
        "name": queue.name,
        "extension": queue.extension,
        "strategy": queue.strategy,
        "wrap_up_time": queue.wrap_up_time,
        "max_wait": queue.max_wait,
        "ring_timeout": queue.ring_timeout,
        "fallback_kind": queue.fallback_kind,
        "fallback_target": destinations.target_of(queue, "fallback"),
    }


def create_queue(session: Session, tenant_id: int, data: dict, actor: User | None) -> Queue:
    queue = Queue(tenant_id=tenant_id)
    queue.members = []
    with session.no_autoflush:
        _apply(session, queue, tenant_id, data)
    session.add(queue)
    session.flush()
    audit.write(session, actor, "queue.create", queue)
    config_changes.changed(session, tenant_id, config_changes.QUEUES, config_changes.DIALPLAN)
    return queue


def update_queue(session: Session, tenant_id: int, queue_id: int, data: dict, actor: User | None) -> Queue:
    queue = get_queue(session, tenant_id, queue_id)
    with session.no_autoflush:
        _apply(session, queue, tenant_id, _current(queue) | dict(data))
    session.flush()
    audit.write(session, actor, "queue.update", queue)
    config_changes.changed(session, tenant_id, config_changes.QUEUES, config_changes.DIALPLAN)
    return queue


def memberships(session: Session, tenant_id: int, user_id: int) -> list[tuple[Queue, QueueMember]]:
    rows = session.execute(
        select(Queue, QueueMember)
        .join(QueueMember, QueueMember.queue_id == Queue.id)
        .where(Queue.tenant_id == tenant_id, QueueMember.user_id == user_id)
        .order_by(Queue.name)
    )
    return [(q, m) for q, m in rows]


def member_paused(user: User, member: QueueMember) -> bool:
    """Paused in a queue: an inactive membership, or the user on DND or with routing paused."""
    return not member.active or user.dnd or user.routing_paused


def set_membership_active(
    session: Session, tenant_id: int, queue_id: int, user_id: int, active: bool, actor: User | None
) -> QueueMember:
    """An agent's presence in one queue: active members receive that queue's calls."""
    queue = get_queue(session, tenant_id, queue_id)
    member = session.scalar(
        select(QueueMember).where(QueueMember.queue_id == queue.id, QueueMember.user_id == user_id)
    )
    if member is None:
        raise NotFound("queue membership", f"{queue_id}/{user_id}")
    member.active = active
    session.flush()
    audit.write(session, actor, "queue.member_active", queue, user_id=user_id, active=active)
    config_changes.changed(session, tenant_id, config_changes.QUEUES)
    user = session.get(User, user_id)
    if user is not None and user.extension:
        # Live at once on every node (QueuePause); the next deploy renders the same pause.
        tenant = session.get(Tenant, tenant_id)
        params = {
            "extension": user.extension,
            "queue": queue.extension,
            "paused": member_paused(user, member),
            "domain": tenant.domain if tenant else "",
        }
        for node in commands.tenant_nodes(session, tenant_id):
            commands.record(
                session,
                node=node,
                kind="queue_pause",
                actor=actor,
                user=user,
                target=queue.extension,
                params=params,
                audit_target=queue,
            )
    return member


def delete_queue(session: Session, tenant_id: int, queue_id: int, actor: User | None) -> None:
    queue = get_queue(session, tenant_id, queue_id)
    lines = session.scalars(select(Line.name).where(Line.destination_queue_id == queue.id)).all()
    if lines:
        raise Conflict(f"{queue.name} is still used.", [f"line {n}" for n in lines])
    audit.write(session, actor, "queue.delete", queue, name=queue.name)
    session.delete(queue)
    session.flush()
    config_changes.changed(session, tenant_id, config_changes.QUEUES, config_changes.DIALPLAN)
