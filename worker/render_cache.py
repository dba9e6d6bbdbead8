"""The worker's renders of each node's tenant, kept between deploys and refreshed incrementally.

rq forks a work horse per job; the worker process itself lives on. `warm` (called by the worker
process before it forks a deploy, see worker/runner.py) brings the node's TenantRender up to the
latest generation of control.model_changes and parses what changed, so the forked job starts
from a current render and a warm parse cache instead of seconds of work on a 10,000-user tenant.

Which render a deploy uses: an automatic deploy refreshes the cached render with the logged
changes; every other deploy (admin, API, CLI) renders in full, so a write that bypassed the
change log (a manual UPDATE, a process that never registered the handlers) is picked up by
"Deploy now", which also resets the worker process's cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from control import model_changes
from control.config import settings
from control.models import PbxNode
from control.render import Changes, RenderedConfig, TenantRender, open_render
from control.services import deploys

_TABLES = ("users", "numbers", "lines", "groups", "queues")


@dataclass(slots=True)
class Entry:
    render: TenantRender
    log_id: str
    generation: int
    # The render that went live on the node with the hash it reported (for the old model).
    live: dict[int, RenderedConfig]
    # The deploy record a full render was made for (in the worker process, before the fork).
    full_for: int | None = None


_cache: dict[tuple[str, int, str, object], Entry] = {}


def _key(node: PbxNode) -> tuple[str, int, str, object]:
    return (settings().database_url, node.tenant_id, node.kind, deploys.render_options(node))


def _changes(tenant_id: int, since: model_changes.Since) -> Changes:
    rows = {table: since.rows.get(table, frozenset()) for table in _TABLES}
    whole = tenant_id in since.tenants or model_changes.EVERY_TENANT in since.tenants
    return Changes(**rows, tenant=whole)


def _full(session: Session, node: PbxNode, log: tuple[str, int], record_id: int | None) -> Entry:
    render = open_render(session, node.tenant_id, node.kind, options=deploys.render_options(node))
    entry = _cache.get(_key(node))
    live = entry.live if entry is not None else {}
    _cache[_key(node)] = Entry(render, log[0], log[1], live, record_id)
    return _cache[_key(node)]


def current(
    session: Session, node: PbxNode, *, incremental: bool, record_id: int | None = None
) -> RenderedConfig:
    """The node's tenant rendered now: refreshed from the cache when `incremental`, else in full.

    A full render made for `record_id` (in the worker process before it forked the job) counts
    as the full render that deploy asked for: the job then only applies what changed since.
    """
    log = model_changes.generation()  # read first: changes logged later are applied next time
    entry = _cache.get(_key(node))
    if entry is not None and entry.render.rendered.content_hash == node.live_hash:
        entry.live[node.id] = entry.render.rendered
    if entry is not None and record_id is not None and entry.full_for == record_id:
        incremental = True
    if not incremental or entry is None:
        return _full(session, node, log, record_id).render.rendered
    since = model_changes.since(entry.log_id, entry.generation)
    if since is None:
        return _full(session, node, log, record_id).render.rendered
    changes = _changes(node.tenant_id, since)
    if any(changes[:-1]) or changes.tenant:
        entry.render.refresh(session, changes)
    entry.generation = log[1]
    return entry.render.rendered


def live_render(node: PbxNode) -> RenderedConfig | None:
    """The render that is live on the node, when this process rendered it (its hash says so)."""
    entry = _cache.get(_key(node))
    if entry is None:
        return None
    if entry.render.rendered.content_hash == node.live_hash:
        return entry.render.rendered
    rendered = entry.live.get(node.id)
    return rendered if rendered is not None and rendered.content_hash == node.live_hash else None


def forget() -> None:
    _cache.clear()
