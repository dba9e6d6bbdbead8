"""A tenant's telephony model as plain rows: one query per table, joined in memory.

Rendering 10,000 users must not lazy-load anything, so every table is read with one Core SELECT
of the columns the renderers need. `reload` re-reads only the rows of the given ids, for an
incremental render after a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import crypto
from control.models import (
    Line,
    PhoneNumber,
    Queue,
    QueueMember,
    RingGroup,
    RingGroupMember,
    Team,
    Tenant,
    User,
    user_teams,
)
from control.render.identifiers import RenderError


class Destination(NamedTuple):
    kind: str | None
    user_id: int | None
    ring_group_id: int | None
    queue_id: int | None
    value: str | None


class TenantRow(NamedTuple):
    id: int
    name: str
    domain: str
    trunk_host: str | None
    trunk_port: int
    trunk_username: str | None
    trunk_secret: str | None


class UserRow(NamedTuple):
    id: int
    name: str
    extension: str | None
    sip_secret: str | None
    suspended: bool
    dnd: bool
    routing_paused: bool
    caller_id_number_id: int | None
    team_id: int | None


class NumberRow(NamedTuple):
    id: int
    e164: str
    status: str
    cancel_at: datetime | None
    do_not_use: bool
    line_id: int | None


class LineRow(NamedTuple):
    id: int
    name: str
    status: str
    default_caller_id_id: int | None
    destination: Destination


class MemberRow(NamedTuple):
    position: int
    kind: str
    user_id: int | None
    ring_group_id: int | None
    number_id: int | None
    value: str | None
    timeout: int


class GroupRow(NamedTuple):
    id: int
    name: str
    extension: str
    strategy: str
    timeout: int
    fallback: Destination
    members: tuple[MemberRow, ...]


class QueueMemberRow(NamedTuple):
    user_id: int
    position: int
    active: bool


class QueueRow(NamedTuple):
    id: int
    name: str
    extension: str
    strategy: str
    wrap_up_time: int
    max_wait: int
    ring_timeout: int
    fallback: Destination
    members: tuple[QueueMemberRow, ...]


@dataclass(slots=True)
class Snapshot:
    tenant: TenantRow
    users: dict[int, UserRow] = field(default_factory=dict)
    numbers: dict[int, NumberRow] = field(default_factory=dict)
    lines: dict[int, LineRow] = field(default_factory=dict)
    groups: dict[int, GroupRow] = field(default_factory=dict)
    queues: dict[int, QueueRow] = field(default_factory=dict)


@lru_cache(maxsize=65536)
def _decrypt(token: str) -> str:
    """Fernet costs ~25 µs a secret; a tenant's secrets are decrypted once per process."""
    return crypto.decrypt(token)


def _plain(token: str | None, what: str) -> str | None:
    if not token:
        return None
    try:
        return _decrypt(token)
    except ValueError as exc:
        raise RenderError(f"{what}: {exc}") from exc


def _destination(kind, user_id, ring_group_id, queue_id, value) -> Destination:  # type: ignore[no-untyped-def]
    return Destination(kind, user_id, ring_group_id, queue_id, value)


def load_tenant(session: Session, tenant_id: int) -> TenantRow:
    row = session.execute(
        select(
            Tenant.id,
            Tenant.name,
            Tenant.domain,
            Tenant.trunk_host,
            Tenant.trunk_port,
            Tenant.trunk_username,
            Tenant.trunk_secret_enc,
        ).where(Tenant.id == tenant_id)
    ).one_or_none()
    if row is None:
        raise RenderError(f"tenant {tenant_id} does not exist")
    return TenantRow(
        id=row[0],
        name=row[1],
        domain=row[2],
        trunk_host=row[3],
        trunk_port=row[4],
        trunk_username=row[5],
        trunk_secret=_plain(row[6], "trunk secret"),
    )


def load_users(session: Session, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, UserRow]:
    stmt = select(
        User.id,
        User.name,
        User.extension,
        User.sip_secret_enc,
        User.suspended,
        User.dnd,
        User.routing_paused,
        User.caller_id_number_id,
    ).where(User.tenant_id == tenant_id)
    teams = (
        select(user_teams.c.user_id, Team.id, Team.name)
        .join(Team, Team.id == user_teams.c.team_id)
        .where(Team.tenant_id == tenant_id)
    )
    if ids is not None:
        wanted = list(ids)
        stmt = stmt.where(User.id.in_(wanted))
        teams = teams.where(user_teams.c.user_id.in_(wanted))
    first_team: dict[int, tuple[str, int]] = {}
    for user_id, team_id, team_name in session.execute(teams):
        key = (team_name, team_id)
        if user_id not in first_team or key < first_team[user_id]:
            first_team[user_id] = key
    users = {}
    for uid, name, ext, secret_enc, suspended, dnd, paused, cid in session.execute(stmt):
        team = first_team.get(uid)
        users[uid] = UserRow(
            id=uid,
            name=name,
            extension=ext,
            sip_secret=_plain(secret_enc, f"SIP secret of user {uid}"),
            suspended=bool(suspended),
            dnd=bool(dnd),
            routing_paused=bool(paused),
            caller_id_number_id=cid,
            team_id=team[1] if team else None,
        )
    return users


def load_numbers(session: Session, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, NumberRow]:
    stmt = select(
        PhoneNumber.id,
        PhoneNumber.e164,
        PhoneNumber.status,
        PhoneNumber.cancel_at,
        PhoneNumber.do_not_use,
        PhoneNumber.line_id,
    ).where(PhoneNumber.tenant_id == tenant_id)
    if ids is not None:
        stmt = stmt.where(PhoneNumber.id.in_(list(ids)))
    return {
        nid: NumberRow(nid, e164, status, cancel_at, bool(dnu), line_id)
        for nid, e164, status, cancel_at, dnu, line_id in session.execute(stmt)
    }


def load_lines(session: Session, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, LineRow]:
    stmt = select(
        Line.id,
        Line.name,
        Line.status,
        Line.default_caller_id_id,
        Line.destination_kind,
        Line.destination_user_id,
        Line.destination_ring_group_id,
        Line.destination_queue_id,
        Line.destination_value,
    ).where(Line.tenant_id == tenant_id)
    if ids is not None:
        stmt = stmt.where(Line.id.in_(list(ids)))
    return {
        row[0]: LineRow(row[0], row[1], row[2], row[3], _destination(*row[4:9]))
        for row in session.execute(stmt)
    }


def load_groups(session: Session, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, GroupRow]:
    stmt = select(
        RingGroup.id,
        RingGroup.name,
        RingGroup.extension,
        RingGroup.strategy,
        RingGroup.timeout,
        RingGroup.fallback_kind,
        RingGroup.fallback_user_id,
        RingGroup.fallback_ring_group_id,
        RingGroup.fallback_queue_id,
        RingGroup.fallback_value,
    ).where(RingGroup.tenant_id == tenant_id)
    members_stmt = (
        select(
            RingGroupMember.ring_group_id,
            RingGroupMember.position,
            RingGroupMember.kind,
            RingGroupMember.user_id,
            RingGroupMember.member_ring_group_id,
            RingGroupMember.number_id,
            RingGroupMember.value,
            RingGroupMember.timeout,
        )
        .join(RingGroup, RingGroup.id == RingGroupMember.ring_group_id)
        .where(RingGroup.tenant_id == tenant_id)
        .order_by(RingGroupMember.ring_group_id, RingGroupMember.position, RingGroupMember.id)
    )
    if ids is not None:
        wanted = list(ids)
        stmt = stmt.where(RingGroup.id.in_(wanted))
        members_stmt = members_stmt.where(RingGroupMember.ring_group_id.in_(wanted))
    members: dict[int, list[MemberRow]] = {}
    for gid, position, kind, user_id, group_id, number_id, value, timeout in session.execute(members_stmt):
        members.setdefault(gid, []).append(
            MemberRow(position, kind, user_id, group_id, number_id, value, timeout)
        )
    return {
        row[0]: GroupRow(
            row[0], row[1], row[2], row[3], row[4], _destination(*row[5:10]), tuple(members.get(row[0], ()))
        )
        for row in session.execute(stmt)
    }


def load_queues(session: Session, tenant_id: int, ids: Iterable[int] | None = None) -> dict[int, QueueRow]:
    stmt = select(
        Queue.id,
        Queue.name,
        Queue.extension,
        Queue.strategy,
        Queue.wrap_up_time,
        Queue.max_wait,
        Queue.ring_timeout,
        Queue.fallback_kind,
        Queue.fallback_user_id,
        Queue.fallback_ring_group_id,
        Queue.fallback_queue_id,
        Queue.fallback_value,
    ).where(Queue.tenant_id == tenant_id)
    members_stmt = (
        select(QueueMember.queue_id, QueueMember.user_id, QueueMember.position, QueueMember.active)
        .join(Queue, Queue.id == QueueMember.queue_id)
        .where(Queue.tenant_id == tenant_id)
        .order_by(QueueMember.queue_id, QueueMember.position, QueueMember.id)
    )
    if ids is not None:
        wanted = list(ids)
        stmt = stmt.where(Queue.id.in_(wanted))
        members_stmt = members_stmt.where(QueueMember.queue_id.in_(wanted))
    members: dict[int, list[QueueMemberRow]] = {}
    for qid, user_id, position, active in session.execute(members_stmt):
        members.setdefault(qid, []).append(QueueMemberRow(user_id, position, bool(active)))
    return {
        row[0]: QueueRow(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            _destination(*row[7:12]),
            tuple(members.get(row[0], ())),
        )
        for row in session.execute(stmt)
    }


def load_snapshot(session: Session, tenant_id: int) -> Snapshot:
    return Snapshot(
        tenant=load_tenant(session, tenant_id),
        users=load_users(session, tenant_id),
        numbers=load_numbers(session, tenant_id),
        lines=load_lines(session, tenant_id),
        groups=load_groups(session, tenant_id),
        queues=load_queues(session, tenant_id),
    )
