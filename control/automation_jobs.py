"""Enqueueing automation runs on rq (client side only), and the minute clock for schedules.

After the commit, `AutomationRunQueued` effects become `worker.automations.run_automation` jobs
on the "automations" queue (never run in the listener or the web request). A wait step schedules
the same job for its end (rq's scheduler, in `switchboard worker`). The clock job runs each
minute: it starts the schedules due that minute, re-queues runs whose job was lost, and
schedules itself for the next minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from control import effects
from control.redis_conn import redis_client

QUEUE = "automations"
#: seconds one job may take: webhook retries (1 + 3 + 9 s and 4 x 10 s timeouts), a text's answer
JOB_TIMEOUT = 300
RESULT_TTL = 3600


def automation_queue(connection: redis.Redis | None = None) -> Any:
    from rq import Queue

    return Queue(QUEUE, connection=connection or redis_client())


def enqueue_run(
    run_id: int, *, at: datetime | None = None, step: int = 0, connection: redis.Redis | None = None
) -> str:
    """Queue `worker.automations.run_automation(run_id)` now, or at `at` (naive: UTC)."""
    queue = automation_queue(connection)
    job_id = f"automation-run-{run_id}-{step}"
    options: dict[str, Any] = {
        "job_id": job_id,
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": 7 * 86400,
        "description": f"automation run {run_id}",
    }
    if at is None:
        job = queue.enqueue("worker.automations.run_automation", run_id, **options)
    else:
        when = at if at.tzinfo else at.replace(tzinfo=UTC)
        job = queue.enqueue_at(when, "worker.automations.run_automation", run_id, **options)
    return str(job.id)


def next_minute(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def schedule_clock(minute: datetime, connection: redis.Redis | None = None) -> str:
    """The clock job for `minute` (UTC); one job id per minute, so starting it twice is harmless."""
    when = minute if minute.tzinfo else minute.replace(tzinfo=UTC)
    job = automation_queue(connection).enqueue_at(
        when,
        "worker.automations.run_clock",
        when.isoformat(),
        job_id=f"automation-clock-{when:%Y%m%d%H%M}",
        job_timeout=120,
        result_ttl=RESULT_TTL,
        description=f"automation clock {when:%Y-%m-%d %H:%M}",
    )
    return str(job.id)


def _on_run_queued(items: list[effects.AutomationRunQueued]) -> None:
    client = redis_client()
    for item in sorted(items, key=lambda i: i.run_id):
        enqueue_run(item.run_id, connection=client)


def register_automation_handlers() -> None:
    """Call once in each process that records runs (listener, command executor, web, worker)."""
    effects.register(effects.AutomationRunQueued, _on_run_queued)
