"""Deploys and rollbacks: the state of record of every push of rendered config to a node.

A DeployRecord is created `queued` by whoever asks (admin, API, CLI, automatic apply), turned
`running` by the worker, and ends `success` or `failed` with the version, content hash, diff
and timings. The node carries what is live (live_version, live_hash) and its status. Every
finished deploy and rollback is written to the audit log with the actor who asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control.db import utcnow
from control.errors import Conflict, Invalid, NotFound, SwitchboardError
from control.models import DeployRecord, PbxNode, Tenant, User
from control.render import RenderedConfig, RenderOptions, render_tenant
from control.services import audit, config_changes
from control.services.listing import Page, paginate
from control.services.nodes import get_node

KINDS = ("deploy", "rollback")
RESULTS = ("queued", "running", "success", "failed")
ACTIVE = ("queued", "running")
SOURCES = ("admin", "api", "cli", "auto")
# Node status: new (never deployed), deploying, live, failed (previous version still live),
# unreachable (the PBX did not answer; retried, then failed).
NODE_STATUSES = ("new", "deploying", "live", "failed", "unreachable")
SORTS = {"queued": DeployRecord.queued_at, "version": DeployRecord.version, "result": DeployRecord.result}
ALL_PARTS = (config_changes.ENDPOINTS, config_changes.DIALPLAN, config_changes.QUEUES)


def render_options(node: PbxNode) -> RenderOptions:
    """An Asterisk host keeps its own transports (deploy/asterisk/README.md): none is rendered."""
    return RenderOptions(sip_bind=None) if node.kind == "asterisk" else RenderOptions()


def render_for(session: Session, node: PbxNode) -> RenderedConfig:
    """The node's tenant model rendered for the node, exactly as a deploy renders it."""
    return render_tenant(session, node.tenant_id, node.kind, options=render_options(node))


@dataclass(frozen=True, slots=True)
class SyncState:
    """Whether the node's live config is what the model renders to now (None: cannot tell)."""

    matches: bool | None
    model_hash: str | None
    live_hash: str | None
    error: str = ""


def sync_state(session: Session, node: PbxNode) -> SyncState:
    try:
        rendered = render_for(session, node)
    except (SwitchboardError, TemplateError) as exc:
        return SyncState(None, None, node.live_hash, f"the model does not render: {exc}")
    return SyncState(rendered.content_hash == node.live_hash, rendered.content_hash, node.live_hash)


def get_deploy(session: Session, deploy_id: int, tenant_id: int | None = None) -> DeployRecord:
    record = session.get(DeployRecord, deploy_id)
    if record is None:
        raise NotFound("deploy", deploy_id)
    if tenant_id is not None:
        get_node(session, record.node_id, tenant_id)
    return record


def page_deploys(
    session: Session,
    node_id: int,
    *,
    page: int = 1,
    per_page: int = 20,
    sort: str | None = None,
    result: str = "",
) -> Page[DeployRecord]:
    stmt = select(DeployRecord).where(DeployRecord.node_id == node_id)
    if result in RESULTS:
        stmt = stmt.where(DeployRecord.result == result)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="-queued"
    )


def active_deploy(session: Session, node_id: int) -> DeployRecord | None:
    """The queued or running deploy of the node, if any (the oldest: it runs first)."""
    return session.scalar(
        select(DeployRecord)
        .where(DeployRecord.node_id == node_id, DeployRecord.result.in_(ACTIVE))
        .order_by(DeployRecord.id)
        .limit(1)
    )


def latest_deploys(session: Session, node_ids: list[int]) -> dict[int, DeployRecord]:
    """The most recent record of each node."""
    if not node_ids:
        return {}
    newest = (
        select(func.max(DeployRecord.id))
        .where(DeployRecord.node_id.in_(node_ids))
        .group_by(DeployRecord.node_id)
    )
    records = session.scalars(select(DeployRecord).where(DeployRecord.id.in_(newest)))
    return {record.node_id: record for record in records}


def known_versions(session: Session, node_id: int) -> list[int]:
    """Versions that went live on the node, newest first (each once)."""
    rows = session.execute(
        select(DeployRecord.version, func.max(DeployRecord.id))
        .where(
            DeployRecord.node_id == node_id,
            DeployRecord.result == "success",
            DeployRecord.version.is_not(None),
        )
        .group_by(DeployRecord.version)
        .order_by(func.max(DeployRecord.id).desc())
    )
    return [int(version) for version, _ in rows if version is not None]


def highest_version(session: Session, node_id: int) -> int:
    return int(
        session.scalar(select(func.max(DeployRecord.version)).where(DeployRecord.node_id == node_id)) or 0
    )


def rollback_targets(node: PbxNode, versions: list[int]) -> list[int]:
    return [version for version in versions if version != node.live_version]


def _queue(
    session: Session,
    node: PbxNode,
    kind: str,
    actor: User | None,
    *,
    source: str,
    parts: list[str],
    version: int | None = None,
) -> DeployRecord:
    if source not in SOURCES:
        raise ValueError(f"unknown deploy source {source!r}")
    record = DeployRecord(
        node_id=node.id,
        kind=kind,
        version=version,
        actor_id=actor.id if actor else None,
        result="queued",
        diff_summary={"source": source, "requested": sorted(set(parts))},
        queued_at=utcnow(),
    )
    session.add(record)
    session.flush()
    audit.write(
        session,
        actor,
        f"{kind}.request",
        node,
        tenant_id=node.tenant_id,
        record_id=record.id,
        version=version,
    )
    return record


def request_deploy(
    session: Session,
    node_id: int,
    actor: User | None,
    *,
    tenant_id: int | None = None,
    source: str = "admin",
    parts: list[str] | None = None,
) -> DeployRecord:
    """Queue a deploy of the node's tenant model; a deploy already waiting is reused.

    The caller enqueues the job after commit (control.jobs.enqueue_deploy) when the record is new.
    """
    node = get_node(session, node_id, tenant_id)
    waiting = session.scalar(
        select(DeployRecord)
        .where(
            DeployRecord.node_id == node.id, DeployRecord.result == "queued", DeployRecord.kind == "deploy"
        )
        .order_by(DeployRecord.id)
        .limit(1)
    )
    requested = list(parts if parts is not None else ALL_PARTS)
    if waiting is not None:
        # It renders the model when it runs, so it carries these edits too.
        summary = dict(waiting.diff_summary or {})
        summary["requested"] = sorted(set(summary.get("requested", [])) | set(requested))
        if source != "auto":
            # Someone asked for it: it renders in full (an automatic one renders incrementally).
            summary["source"] = source
        waiting.diff_summary = summary
        session.flush()
        return waiting
    return _queue(session, node, "deploy", actor, source=source, parts=requested)


def request_rollback(
    session: Session,
    node_id: int,
    actor: User | None,
    version: int | None = None,
    *,
    tenant_id: int | None = None,
    source: str = "admin",
) -> DeployRecord:
    """Queue a switch back to an earlier version (default: the one live before the current one)."""
    node = get_node(session, node_id, tenant_id)
    if node.live_version is None:
        raise Conflict(f"Node {node.name} has no live version to roll back from.")
    targets = rollback_targets(node, known_versions(session, node.id))
    if version is None:
        if not targets:
            raise Conflict(f"Node {node.name} has no earlier version to roll back to.")
        version = targets[0]
    elif version not in targets:
        message = (
            f"Version {version} is already live."
            if version == node.live_version
            else f"Version {version} never went live on {node.name}; choose one of: "
            + (", ".join(map(str, targets)) or "none")
        )
        raise Invalid({"version": [message]})
    return _queue(session, node, "rollback", actor, source=source, parts=list(ALL_PARTS), version=version)


# --- the worker's side ----------------------------------------------------------------------


def start(session: Session, record: DeployRecord, node: PbxNode) -> None:
    record.result = "running"
    record.started_at = utcnow()
    record.error = ""
    node.status = "deploying"
    node.status_detail = f"{record.kind} #{record.id} running"
    session.flush()


def _actor(session: Session, record: DeployRecord) -> User | None:
    return session.get(User, record.actor_id) if record.actor_id else None


def _duration(record: DeployRecord, finished: datetime) -> int:
    started = record.started_at or record.queued_at
    return max(0, int((finished - started).total_seconds() * 1000))


def succeed(
    session: Session,
    record: DeployRecord,
    node: PbxNode,
    *,
    version: int,
    content_hash: str,
    summary: dict[str, Any],
    diff_text: str,
    detail: str,
) -> None:
    finished = utcnow()
    record.result = "success"
    record.version = version
    record.content_hash = content_hash
    record.diff_summary = dict(record.diff_summary or {}) | summary
    record.diff_text = diff_text
    record.finished_at = finished
    record.duration_ms = _duration(record, finished)
    node.live_version = version
    node.live_hash = content_hash
    node.status = "live"
    node.status_detail = detail[:2000]
    session.flush()
    audit.write(
        session,
        _actor(session, record),
        f"{record.kind}.success",
        node,
        tenant_id=node.tenant_id,
        record_id=record.id,
        version=version,
        content_hash=content_hash,
    )


def fail(
    session: Session,
    record: DeployRecord,
    node: PbxNode,
    error: str,
    *,
    node_status: str = "failed",
    summary: dict[str, Any] | None = None,
    diff_text: str = "",
) -> None:
    """The deploy is over and did not change what is live (the previous version still serves)."""
    finished = utcnow()
    record.result = "failed"
    record.error = error[:20000]
    record.diff_summary = dict(record.diff_summary or {}) | (summary or {})
    record.diff_text = diff_text
    record.finished_at = finished
    record.duration_ms = _duration(record, finished)
    node.status = node_status
    live = (
        f"version {node.live_version} is still live"
        if node.live_version is not None
        else "nothing deployed yet"
    )
    node.status_detail = f"{record.kind} #{record.id} failed ({live}): {error}"[:2000]
    session.flush()
    audit.write(
        session,
        _actor(session, record),
        f"{record.kind}.failed",
        node,
        tenant_id=node.tenant_id,
        record_id=record.id,
        error=error[:500],
    )


def unreachable(session: Session, record: DeployRecord, node: PbxNode, error: str, retry_in: int) -> None:
    """The PBX did not answer; the job is retried in `retry_in` seconds (the record waits queued)."""
    record.result = "queued"
    record.error = error[:20000]
    node.status = "unreachable"
    node.status_detail = f"{record.kind} #{record.id}: {error}; retrying in {retry_in} s"[:2000]
    session.flush()


def set_auto_apply(session: Session, tenant_id: int, enabled: bool, actor: User | None) -> Tenant:
    """Turn automatic apply on or off (off for bulk imports); turning it on applies what is pending."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    if tenant.auto_apply == enabled:
        return tenant
    tenant.auto_apply = enabled
    session.flush()
    audit.write(session, actor, "tenant.auto_apply", tenant, tenant_id=tenant.id, enabled=enabled)
    if enabled:
        config_changes.changed(session, tenant.id, *ALL_PARTS)
    return tenant
