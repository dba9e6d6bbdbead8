"""Enqueueing deploys on rq (client side only) and the debounced automatic apply.

Model changes record ConfigChanged effects (control/services/config_changes.py); after the
commit, `on_config_changed` collects the parts of every tenant that has nodes and automatic
apply on, and opens (or joins) that tenant's 2-second apply window in Redis. The first change
of a window enqueues `worker.apply.run_apply`, which waits for the window to close, takes the
merged parts and queues one deploy per node: a burst of edits within 2 s becomes one deploy,
with one reload of each kind it touched.

rq's package imports its worker module, which control must not load at import time (see
tests/control/test_layering.py), so rq is imported inside the functions that enqueue.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select

from control import effects, model_changes
from control.config import settings
from control.db import new_session
from control.models import DeployRecord, PbxNode, Tenant
from control.redis_conn import redis_client

DEPLOY_QUEUE = "deploys"
APPLY_WINDOW = 2.0  # seconds a burst of edits is collected before one deploy
DEPLOY_TIMEOUT = 600  # seconds a deploy job may run (a 10,000-user reload takes a few)
RETRY_INTERVALS = (5, 15, 45)  # backoff while the PBX does not answer, then the deploy fails
RESULT_TTL = 3600

_PREFIX = "switchboard"


def _apply_keys(tenant_id: int) -> tuple[str, str]:
    return f"{_PREFIX}:apply:{tenant_id}:parts", f"{_PREFIX}:apply:{tenant_id}:due"


def progress_key(record_id: int) -> str:
    return f"{_PREFIX}:deploy:{record_id}:progress"


def lock_name(node_id: int) -> str:
    return f"{_PREFIX}:deploy-lock:{node_id}"


def deploy_queue(connection: redis.Redis | None = None) -> Any:
    from rq import Queue

    return Queue(DEPLOY_QUEUE, connection=connection or redis_client())


def enqueue_deploy(record_id: int, connection: redis.Redis | None = None) -> str:
    """Run worker.deploys.run_deploy(record_id); retried with backoff while the PBX is down.

    Idempotent: a record whose job is already waiting, scheduled or running is not queued twice.
    """
    from rq import Retry
    from rq.job import Job, JobStatus

    client = connection or redis_client()
    job_id = f"deploy-{record_id}"
    if Job.exists(job_id, connection=client):
        status = Job.fetch(job_id, connection=client).get_status(refresh=False)
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED):
            return job_id
    job = deploy_queue(client).enqueue(
        "worker.deploys.run_deploy",
        record_id,
        job_id=job_id,
        job_timeout=DEPLOY_TIMEOUT,
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        result_ttl=RESULT_TTL,
        failure_ttl=7 * 86400,
        description=f"deploy record {record_id}",
    )
    return str(job.id)


def start_deploy_job(record_id: int) -> str:
    """Enqueue a committed DeployRecord; if Redis refuses, the record fails visibly, never waits forever."""
    try:
        return enqueue_deploy(record_id)
    except redis.RedisError as exc:
        from control.db import unit_of_work
        from control.services import deploys

        with unit_of_work() as session:
            record = session.get(DeployRecord, record_id)
            node = session.get(PbxNode, record.node_id) if record is not None else None
            if record is not None and node is not None and record.result == "queued":
                deploys.fail(
                    session, record, node, f"could not queue the job: {exc}", node_status=node.status
                )
        raise


def request_apply(tenant_id: int, parts: Iterable[str], connection: redis.Redis | None = None) -> bool:
    """Add `parts` to the tenant's open apply window; open one (and enqueue its job) if none is.

    Returns True when this call opened the window.
    """
    client = connection or redis_client()
    parts_key, due_key = _apply_keys(tenant_id)
    due = time.time() + APPLY_WINDOW
    ttl_ms = int((APPLY_WINDOW + DEPLOY_TIMEOUT) * 1000)
    pipe = client.pipeline(transaction=True)
    pipe.sadd(parts_key, *sorted(set(parts)))
    pipe.pexpire(parts_key, ttl_ms)
    pipe.set(due_key, repr(due), nx=True, px=ttl_ms)
    opened = bool(pipe.execute()[2])
    if opened:
        from rq import Retry

        deploy_queue(client).enqueue(
            "worker.apply.run_apply",
            tenant_id,
            due,
            job_id=f"apply-{tenant_id}-{int(due * 1000)}",
            job_timeout=int(APPLY_WINDOW) + 60,
            retry=Retry(max=2, interval=[1, 5]),
            result_ttl=RESULT_TTL,
            description=f"apply tenant {tenant_id}",
        )
    return opened


def take_pending(tenant_id: int, connection: redis.Redis | None = None) -> set[str]:
    """Close the tenant's apply window: its merged parts (a later edit opens a new window)."""
    client = connection or redis_client()
    parts_key, due_key = _apply_keys(tenant_id)
    pipe = client.pipeline(transaction=True)
    pipe.smembers(parts_key)
    pipe.delete(parts_key)
    pipe.delete(due_key)
    members = pipe.execute()[0]
    return {member.decode() if isinstance(member, bytes) else str(member) for member in members}


def pending_apply(tenant_id: int, connection: redis.Redis | None = None) -> tuple[set[str], float | None]:
    """The parts waiting in the tenant's open window and when it closes (epoch seconds)."""
    client = connection or redis_client()
    parts_key, due_key = _apply_keys(tenant_id)
    members, due = client.smembers(parts_key), client.get(due_key)
    parts = {member.decode() if isinstance(member, bytes) else str(member) for member in members}
    return parts, float(due) if due else None


def set_progress(record_id: int, phase: str, connection: redis.Redis | None = None) -> None:
    client = connection or redis_client()
    client.set(progress_key(record_id), f"{phase}|{time.time():.3f}", ex=DEPLOY_TIMEOUT)


def progress(record_ids: Iterable[int], connection: redis.Redis | None = None) -> dict[int, str]:
    """The current phase (rendering, validating, writing, reloading, verifying) of running deploys."""
    ids = list(record_ids)
    if not ids:
        return {}
    client = connection or redis_client()
    values = client.mget([progress_key(record_id) for record_id in ids])
    found: dict[int, str] = {}
    for record_id, value in zip(ids, values, strict=True):
        if value:
            text = value.decode() if isinstance(value, bytes) else str(value)
            found[record_id] = text.split("|", 1)[0]
    return found


def auto_apply_tenants(tenant_ids: Iterable[int]) -> set[int]:
    """Of these tenants, those with automatic apply on and at least one node."""
    ids = sorted(set(tenant_ids))
    if not ids or not settings().auto_apply:
        return set()
    session = new_session()
    try:
        rows = session.scalars(
            select(PbxNode.tenant_id)
            .join(Tenant, Tenant.id == PbxNode.tenant_id)
            .where(PbxNode.tenant_id.in_(ids), Tenant.auto_apply.is_(True))
            .distinct()
        )
        return set(rows)
    finally:
        session.close()


def on_config_changed(items: list[effects.ConfigChanged]) -> None:
    by_tenant: dict[int, set[str]] = {}
    for item in items:
        by_tenant.setdefault(item.tenant_id, set()).add(item.reload)
    for tenant_id in sorted(auto_apply_tenants(by_tenant)):
        request_apply(tenant_id, by_tenant[tenant_id])


NUMBER_QUEUE = "default"


def number_cancellation_job_id(number_id: int) -> str:
    return f"number-cancellation-{number_id}"


def schedule_number_cancellation(
    number_id: int, cancel_at: datetime, connection: redis.Redis | None = None
) -> str:
    """Run worker.numbers.run_number_cancellation(number_id) at cancel_at (naive UTC).

    One job per number (a fixed id): scheduling again moves it to the new time."""
    from rq import Queue, Retry
    from rq.job import Job

    client = connection or redis_client()
    job_id = number_cancellation_job_id(number_id)
    queue = Queue(NUMBER_QUEUE, connection=client)
    if Job.exists(job_id, connection=client):
        queue.scheduled_job_registry.remove(job_id)
        Job.fetch(job_id, connection=client).delete()
    job = queue.enqueue_at(
        cancel_at.replace(tzinfo=UTC),
        "worker.numbers.run_number_cancellation",
        number_id,
        job_id=job_id,
        job_timeout=300,
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        result_ttl=RESULT_TTL,
        failure_ttl=30 * 86400,
        description=f"release replaced number {number_id}",
    )
    return str(job.id)


def on_number_cancellation(items: list[effects.NumberCancellationScheduled]) -> None:
    for item in items:
        schedule_number_cancellation(item.number_id, item.cancel_at)


def register_apply_handlers() -> None:
    """Apply committed model changes to the PBX nodes: call once in each process that edits.

    Also logs which rows changed (control.model_changes), so automatic deploys render
    incrementally, and schedules the release of replaced numbers at their cancel_at.
    """
    model_changes.install()
    effects.register(effects.ConfigChanged, on_config_changed)
    effects.register(effects.NumberCancellationScheduled, on_number_cancellation)
