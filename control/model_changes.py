"""Which rows of the telephony model each committed unit of work changed, for incremental renders.

A 10,000-user tenant takes seconds to render in full; a deploy worker keeps its render and
refreshes only what changed (control.render.TenantRender.refresh). To know what changed, a
session listener notes every flushed user, number, line, ring group (and member), queue (and
member), team and tenant as a `RowChanged` effect; after the commit they are appended to a change
log in Redis under an increasing generation number. A worker that rendered at generation G
applies the entries after G. Rows are global ids: an entry of another tenant changes nothing in
a refresh (the loaders filter by tenant). A change the log cannot describe (a team edit moves
users' call groups, a row deleted by a database cascade) is logged as the whole tenant, and a
bulk UPDATE/DELETE statement on these tables as every tenant.

Writes that bypass the services and this log (a manual UPDATE) are not seen by an incremental
render: manual deploys always render in full, and so does the live-vs-model check.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from control import effects
from control.config import settings
from control.db import new_session
from control.models import (
    Line,
    PbxNode,
    PhoneNumber,
    Queue,
    QueueMember,
    RingGroup,
    RingGroupMember,
    Team,
    Tenant,
    User,
)
from control.redis_conn import redis_client

GENERATION_KEY = "switchboard:model:generation"
LOG_ID_KEY = "switchboard:model:log-id"  # a new log (Redis flushed or replaced) has another id
LOG_KEY = "switchboard:model:changes"
LOG_LENGTH = 5000  # entries kept; a render older than the oldest renders in full
TABLES = ("users", "numbers", "lines", "groups", "queues")


@dataclass(frozen=True, slots=True)
class RowChanged:
    table: str  # one of TABLES, or "tenant" (row_id is then the tenant id)
    row_id: int


def _rows(obj: Any) -> list[RowChanged]:
    if isinstance(obj, User):
        return [RowChanged("users", obj.id)]
    if isinstance(obj, PhoneNumber):
        return [RowChanged("numbers", obj.id)]
    if isinstance(obj, Line):
        return [RowChanged("lines", obj.id)]
    if isinstance(obj, RingGroup):
        return [RowChanged("groups", obj.id)]
    if isinstance(obj, RingGroupMember):
        return [RowChanged("groups", obj.ring_group_id)] if obj.ring_group_id else []
    if isinstance(obj, Queue):
        return [RowChanged("queues", obj.id)]
    if isinstance(obj, QueueMember):
        return [RowChanged("queues", obj.queue_id)] if obj.queue_id else []
    if isinstance(obj, Team | Tenant):
        tenant_id = _tenant_of(obj)
        return [RowChanged("tenant", tenant_id)] if tenant_id else []
    return []


# Deleting these moves rows the session never sees (ON DELETE CASCADE / SET NULL in the database).
_CASCADING = (User, Line, RingGroup, Queue, Team)


def _tenant_of(obj: Any) -> int | None:
    return obj.id if isinstance(obj, Tenant) else getattr(obj, "tenant_id", None)


EVERY_TENANT = 0  # a bulk UPDATE/DELETE statement: which tenant's rows it touched is unknown
_TRACKED = (User, PhoneNumber, Line, RingGroup, RingGroupMember, Queue, QueueMember, Team, Tenant)


def _bulk(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        if issubclass(state.bind_mapper.class_, _TRACKED):
            effects.record(state.session, RowChanged("tenant", EVERY_TENANT))


def _after_flush(session: Session, _context: object) -> None:
    for obj in session.new:
        if not isinstance(obj, Team):  # a new team has no members yet
            for row in _rows(obj):
                effects.record(session, row)
    for obj in session.dirty:
        if session.is_modified(obj):
            for row in _rows(obj):
                effects.record(session, row)
    for obj in session.deleted:
        tenant_id = _tenant_of(obj)
        if isinstance(obj, _CASCADING) and tenant_id:
            effects.record(session, RowChanged("tenant", tenant_id))
        else:
            for row in _rows(obj):
                effects.record(session, row)


def append(rows: Iterable[RowChanged], connection: redis.Redis | None = None) -> int:
    """Log the rows under a new generation; returns it."""
    client = connection or redis_client()
    grouped: dict[str, set[int]] = {}
    for row in rows:
        grouped.setdefault(row.table, set()).add(row.row_id)
    generation = int(client.incr(GENERATION_KEY))
    entry = json.dumps({"generation": generation, "rows": {k: sorted(v) for k, v in grouped.items()}})
    pipe = client.pipeline()
    pipe.zadd(LOG_KEY, {entry: generation})
    pipe.zremrangebyrank(LOG_KEY, 0, -LOG_LENGTH - 1)
    pipe.execute()
    return generation


def generation(connection: redis.Redis | None = None) -> tuple[str, int]:
    """This log's id and its latest generation: a render remembers both."""
    client = connection or redis_client()
    client.set(LOG_ID_KEY, uuid.uuid4().hex, nx=True)
    pipe = client.pipeline()
    pipe.get(LOG_ID_KEY)
    pipe.get(GENERATION_KEY)
    log_id, number = pipe.execute()
    return (log_id.decode() if isinstance(log_id, bytes) else str(log_id)), int(number or 0)


@dataclass(frozen=True, slots=True)
class Since:
    """What changed after a generation: ids per table, and the tenants to re-read whole."""

    rows: dict[str, frozenset[int]]
    tenants: frozenset[int]


def since(log_id: str, after: int, connection: redis.Redis | None = None) -> Since | None:
    """The changes logged after generation `after` of log `log_id`; None when this log cannot
    tell (another log, or entries already trimmed): the caller renders in full."""
    client = connection or redis_client()
    current_id, current = generation(client)
    if current_id != log_id:
        return None
    if current <= after:
        return Since({}, frozenset())
    raws: list[bytes] = client.zrangebyscore(LOG_KEY, after + 1, "+inf")  # type: ignore[assignment]
    entries = [json.loads(raw) for raw in raws]
    if sorted(entry["generation"] for entry in entries) != list(range(after + 1, current + 1)):
        return None
    rows: dict[str, set[int]] = {}
    tenants: set[int] = set()
    for entry in entries:
        for table, ids in entry["rows"].items():
            if table == "tenant":
                tenants.update(ids)
            else:
                rows.setdefault(table, set()).update(ids)
    return Since({table: frozenset(ids) for table, ids in rows.items()}, frozenset(tenants))


def _on_rows_changed(items: list[RowChanged]) -> None:
    # The mod_xml_curl answers (control.services.xml_curl) are cached on this log in every web
    # process: with the endpoint enabled, every change is logged, nodes or not.
    if settings().xml_curl_password:
        append(items)
        return
    # Without any node nothing renders incrementally: no need for Redis (a CLI seeding the demo).
    session = new_session()
    try:
        has_nodes = session.scalar(select(PbxNode.id).limit(1)) is not None
    finally:
        session.close()
    if has_nodes:
        append(items)


def install() -> None:
    """Track committed changes in this process (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _bulk)
    effects.register(RowChanged, _on_rows_changed)
