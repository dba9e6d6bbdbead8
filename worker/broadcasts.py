"""The broadcast sender: an rq job that hands calls and texts to the call control within the
tenant's throttle until the broadcast is paused, cancelled or done.

One run is a slice of at most broadcast_jobs.SLICE_SECONDS; while the broadcast still runs it
queues its next slice, so deploys on the same worker wait a slice at most. A Redis lock keeps
one sender per broadcast; each step is one unit of work (control.services.broadcast_sending
.dispatch). Between steps the sender waits for the next slot, or for a change made elsewhere
(broadcast_jobs.Changes: a pause, a cancel, a call's result), whichever comes first: a pause or
a cancel takes effect as soon as it is committed.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import LockError

from control import broadcast_jobs, command_channel, live
from control.db import unit_of_work, utcnow
from control.redis_conn import redis_client
from control.services import broadcast_recordings, broadcast_sending
from worker.config_store import StoreError
from worker.deploys import store_for
from worker.pbx_errors import PbxError

log = logging.getLogger(__name__)


def _setup() -> None:
    command_channel.register_command_handlers()
    live.register_publish_handlers()
    broadcast_jobs.register_broadcast_handlers()


def _still_running(broadcast_id: int) -> bool:
    with unit_of_work() as session:
        return broadcast_sending.is_running(session, broadcast_id)


MEDIA_MARK_TTL = 86_400


def deploy_recording(broadcast_id: int) -> bool:
    """Copy a voice broadcast's recording to each node of its tenant, before any call goes out
    (once per node and recording); a node that cannot take it pauses the broadcast."""
    with unit_of_work() as session:
        found = broadcast_sending.recording_and_nodes(session, broadcast_id)
        if found is None:
            return True
        name, nodes = found
        session.expunge_all()
    path = broadcast_recordings.recording_path(name)
    client = redis_client()
    for node in nodes:
        mark = f"switchboard:media:{node.id}:{name}"
        if client.exists(mark):
            continue
        try:
            store_for(node).write_media(name, path.read_bytes())
        except (OSError, PbxError, StoreError) as exc:
            log.warning("broadcast %s: the recording could not reach %s: %s", broadcast_id, node.name, exc)
            with unit_of_work() as session:
                broadcast_sending.pause_for(
                    session, broadcast_id, f"the recording could not reach {node.name}: {exc}"
                )
            return False
        client.set(mark, "1", ex=MEDIA_MARK_TTL)
    return True


def send_slice(broadcast_id: int, seconds: float) -> bool:
    """Dispatch for up to `seconds`; True if the broadcast still runs at the end."""
    deadline = time.monotonic() + seconds
    with broadcast_jobs.Changes(broadcast_id) as changes:
        while (left := deadline - time.monotonic()) > 0:
            with unit_of_work() as session:
                wait = broadcast_sending.dispatch(session, broadcast_id)
            if wait is None:
                return False
            if wait > 0:
                changes.wait(min(wait, left))
    return True


def run_broadcast(broadcast_id: int, slice_seconds: float | None = None) -> None:
    _setup()
    with unit_of_work() as session:
        if not broadcast_sending.start_when_due(session, broadcast_id, utcnow()):
            return
    lock = broadcast_jobs.sender_lock(broadcast_id)
    if not lock.acquire(blocking=False):
        return  # another slice sends it
    try:
        if not deploy_recording(broadcast_id):
            return
        more = send_slice(broadcast_id, slice_seconds or broadcast_jobs.SLICE_SECONDS)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("the sender lock of broadcast %s expired", broadcast_id)
    # Resumed while this slice was stopping: the resume's own job may have found the lock held.
    if more or _still_running(broadcast_id):
        broadcast_jobs.enqueue_sender(broadcast_id)
