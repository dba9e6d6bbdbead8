"""Real Redis and real rq workers for deploy tests: a dedicated database, flushed around each use.

In CI (CI=true) a Redis that does not answer is a failure like any other, never a skip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from rq import Queue

from control import jobs
from worker.runner import SwitchboardWorker

TEST_REDIS_URL = os.environ.get("SWITCHBOARD_TEST_DEPLOY_REDIS", "redis://127.0.0.1:6379/12")


@contextmanager
def deploy_redis() -> Iterator[redis.Redis]:
    """REDIS_URL pointed at the deploy tests' own database, empty before and after."""
    previous = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        if previous is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = previous


def drain(
    client: redis.Redis,
    timeout: float = 60.0,
    queue_names: tuple[str, ...] = (jobs.DEPLOY_QUEUE,),
    horizon: float | None = None,
) -> None:
    """Run burst workers (the real `switchboard worker` class: forking, with the scheduler) until
    no job of these queues waits or is scheduled; between runs, wait until the next scheduled job
    is due. With `horizon` (seconds), jobs scheduled later than that from now are left waiting."""
    queues = [Queue(name, connection=client) for name in queue_names]
    deadline = time.monotonic() + timeout
    while True:
        SwitchboardWorker(queues, connection=client).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        if any(queue.count for queue in queues):
            continue  # queued while the worker was leaving
        limit = None if horizon is None else time.time() + horizon
        pending = sum(
            queue.started_job_registry.count
            + queue.deferred_job_registry.count
            + client.zcount(queue.scheduled_job_registry.key, "-inf", "+inf" if limit is None else limit)
            for queue in queues
        )
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still pending after {timeout:.0f} s")
        _wait_until_due(client, queues, deadline, limit)


def _wait_until_due(client: redis.Redis, queues: list[Queue], deadline: float, limit: float | None) -> None:
    """Until the earliest scheduled job is due (a burst worker's scheduler moves it to the queue
    once its second has come); without one (a job still started or deferred), a moment."""
    scores = [
        found[0][1]
        for queue in queues
        if (found := client.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True))
        and (limit is None or found[0][1] <= limit)
    ]
    wait = min(scores) - time.time() if scores else 0.1
    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
