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


def drain(client: redis.Redis, timeout: float = 60.0) -> None:
    """Run burst workers (the real `switchboard worker` class: forking, with the scheduler) until
    no deploy job waits or is scheduled; between runs, wait until the next scheduled job is due."""
    queue = Queue(jobs.DEPLOY_QUEUE, connection=client)
    deadline = time.monotonic() + timeout
    while True:
        SwitchboardWorker([queue], connection=client).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )
        if queue.count:
            continue  # queued while the worker was leaving
        pending = (
            queue.scheduled_job_registry.count
            + queue.started_job_registry.count
            + queue.deferred_job_registry.count
        )
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"deploy jobs still pending after {timeout:.0f} s")
        _wait_until_due(client, queue, deadline)


def _wait_until_due(client: redis.Redis, queue: Queue, deadline: float) -> None:
    """Until the earliest scheduled job is due (a burst worker's scheduler moves it to the queue
    once its second has come); without one (a job still started or deferred), a moment."""
    earliest = client.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True)
    wait = earliest[0][1] - time.time() if earliest else 0.1
    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
