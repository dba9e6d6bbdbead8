"""Broadcasts on rq (client side only) and their live progress.

After the commit: `BroadcastRunning` enqueues the broadcast's sender (worker.broadcasts
.run_broadcast); `BroadcastScheduled` enqueues it at the scheduled time on rq's scheduler (the
sender starts the broadcast then, if it is still scheduled for that time); `BroadcastChanged`
publishes the progress (sent, answered, failed, remaining) on the tenant's live channel;
`SenderWake` wakes the broadcast's sender (`Changes`: it waits on them between its steps, so a
pause or a cancel stops it at once, and a result frees a line for the next call without polling).

A worker that starts catches up (`catch_up`): a scheduled start that passed while no worker ran
(its rq job may be gone with Redis) is taken now, and a running broadcast whose next slice was lost
gets a sender again. A sender that finds the broadcast's lock held ends at once, so a start or a
slice queued twice never sends twice.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import redis

from control import effects
from control.live import publish_all
from control.redis_conn import redis_client
from control.services import broadcast_sending

QUEUE = "default"
#: One run of the sender is a slice this long; it then queues its next slice behind other jobs
#: (a deploy waits at most a slice for the worker).
SLICE_SECONDS = 10.0
JOB_TIMEOUT = 120
SENDER = "worker.broadcasts.run_broadcast"


def sender_lock(broadcast_id: int, connection: redis.Redis | None = None) -> Any:
    """Held by the one sender of a broadcast."""
    client = connection or redis_client()
    return client.lock(f"switchboard:broadcast-sender:{broadcast_id}", timeout=JOB_TIMEOUT)


def _queue(connection: redis.Redis | None = None) -> Any:
    from rq import Queue

    return Queue(QUEUE, connection=connection or redis_client())


def _job(broadcast_id: int, what: str, job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "job_timeout": JOB_TIMEOUT,
        "result_ttl": 600,
        "failure_ttl": 7 * 86400,
        "description": f"{what} broadcast {broadcast_id}",
    }


def enqueue_sender(broadcast_id: int, connection: redis.Redis | None = None) -> str:
    job_id = f"broadcast-{broadcast_id}-{uuid.uuid4().hex[:12]}"
    job = _queue(connection).enqueue(SENDER, broadcast_id, **_job(broadcast_id, "send", job_id))
    return str(job.id)


def schedule_sender(broadcast_id: int, at: datetime, connection: redis.Redis | None = None) -> str:
    """The sender at `at` (naive UTC) on rq's scheduler: it starts the broadcast if still due.
    A time already past is queued at once: rq's scheduler clears its registry by score after each
    pass, so a job scheduled in the past during a pass would be dropped unseen."""
    when = at.replace(tzinfo=UTC)
    job_id = f"broadcast-{broadcast_id}-at-{int(when.timestamp())}"
    options = _job(broadcast_id, "start", job_id)
    if when <= datetime.now(UTC):
        return str(_queue(connection).enqueue(SENDER, broadcast_id, **options).id)
    return str(_queue(connection).enqueue_at(when, SENDER, broadcast_id, **options).id)


def _wake_channel(broadcast_id: int) -> str:
    return f"switchboard:broadcast-wake:{broadcast_id}"


class Changes:
    """A sender's view of changes to its broadcast made elsewhere, for one slice: subscribed on
    entry, so no change between two waits is missed."""

    def __init__(self, broadcast_id: int, connection: redis.Redis | None = None) -> None:
        self._pubsub = (connection or redis_client()).pubsub(ignore_subscribe_messages=True)
        self._channel = _wake_channel(broadcast_id)

    def __enter__(self) -> Changes:
        self._pubsub.subscribe(self._channel)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pubsub.close()

    def wait(self, seconds: float) -> bool:
        """Up to `seconds` (timed here, not by Redis); True as soon as something changed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._pubsub.get_message(timeout=left) is not None:
                while self._pubsub.get_message(timeout=0) is not None:
                    pass  # several changes at once: one look covers them
                return True
        return False


def _wake(items: list[broadcast_sending.SenderWake]) -> None:
    pipe = redis_client().pipeline(transaction=False)
    for broadcast_id in {item.broadcast_id for item in items}:
        pipe.publish(_wake_channel(broadcast_id), b"1")
    pipe.execute()


def catch_up(connection: redis.Redis | None = None) -> tuple[int, int]:
    """At a worker's start: (scheduled broadcasts due, running broadcasts) given a sender now."""
    from control.db import unit_of_work, utcnow

    with unit_of_work() as session:
        due, running = broadcast_sending.overdue(session, utcnow())
    for broadcast_id, at in due:
        schedule_sender(broadcast_id, at, connection)  # the job id it was scheduled with
    for broadcast_id in running:
        enqueue_sender(broadcast_id, connection)
    return len(due), len(running)


def progress_message(session: Any, broadcast_id: int) -> dict[str, Any] | None:
    from control.models import Broadcast

    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    return {
        "type": "broadcast",
        "broadcast_id": broadcast.id,
        "status": broadcast.status,
        "progress": broadcast_sending.progress(session, broadcast.id),
        "at": time.time(),
    }


def _publish(items: list[broadcast_sending.BroadcastChanged]) -> None:
    from control.db import new_session

    session = new_session()
    try:
        messages = []
        for item in items:
            message = progress_message(session, item.broadcast_id)
            if message is not None:
                messages.append((item.tenant_id, message))
    finally:
        session.close()
    publish_all(messages)


def _run(items: list[broadcast_sending.BroadcastRunning]) -> None:
    for item in items:
        enqueue_sender(item.broadcast_id)


def _schedule(items: list[broadcast_sending.BroadcastScheduled]) -> None:
    for item in items:
        schedule_sender(item.broadcast_id, item.at)


def register_broadcast_handlers() -> None:
    """Call once in each process that changes broadcasts or records their outcomes."""
    effects.register(broadcast_sending.BroadcastChanged, _publish)
    effects.register(broadcast_sending.BroadcastRunning, _run)
    effects.register(broadcast_sending.BroadcastScheduled, _schedule)
    effects.register(broadcast_sending.SenderWake, _wake)
