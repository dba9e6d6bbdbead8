"""The `switchboard worker` class on a real Redis: its command channel and its teardown."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.client import PubSub
from rq import Queue
from rq.command import send_shutdown_command

from control import jobs
from tests.worker.rq_support import deploy_redis
from worker.runner import SwitchboardWorker


@pytest.fixture()
def client() -> Iterator[redis.Redis]:
    with deploy_redis() as connection:
        yield connection


def _reader_handles_the_unsubscribe_reply_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the losing side of the teardown race certain: unsubscribe() returns only once the
    reader thread has read the reply (as on a busy machine, where the worker's main thread is
    descheduled right after sending UNSUBSCRIBE)."""
    unsubscribe = PubSub.unsubscribe

    def unsubscribe_and_let_the_reader_run(self: PubSub, *args: object) -> object:
        sent = unsubscribe(self, *args)
        deadline = time.monotonic() + 5
        while self.subscribed and time.monotonic() < deadline:
            time.sleep(0.005)
        return sent

    monkeypatch.setattr(PubSub, "unsubscribe", unsubscribe_and_let_the_reader_run)


def test_a_burst_worker_leaves_at_once_when_its_reader_wins_the_teardown_race(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reader_handles_the_unsubscribe_reply_first(monkeypatch)
    worker = SwitchboardWorker([Queue(jobs.DEPLOY_QUEUE, connection=client)], connection=client)
    started = time.monotonic()
    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
    # rq's own teardown waits here for the reader's 60 s read to time out; ours takes well under 1 s
    # (20 s leaves room for a loaded machine and still tells the two apart).
    assert time.monotonic() - started < 20
    assert client.pubsub_numsub(worker.pubsub_channel_name)[0][1] == 0


def test_the_command_channel_still_reaches_a_running_worker(client: redis.Redis) -> None:
    worker = SwitchboardWorker([Queue(jobs.DEPLOY_QUEUE, connection=client)], connection=client)
    sent = threading.Event()
    fallback: list[str] = []

    def shut_down() -> None:
        deadline = time.monotonic() + 20
        while client.pubsub_numsub(worker.pubsub_channel_name)[0][1] == 0:
            if time.monotonic() > deadline:
                fallback.append("the worker never subscribed to its command channel")
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)
        send_shutdown_command(client, worker.name)
        sent.set()
        if not stopped.wait(20):
            fallback.append("the shutdown command did not stop the worker")
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = threading.Event()
    helper = threading.Thread(target=shut_down, daemon=True)
    helper.start()
    # rq installs signal handlers, so the worker runs in the main thread.
    worker.work(burst=False, with_scheduler=False, logging_level="WARNING")
    stopped.set()
    helper.join(5)
    assert not fallback, fallback
    assert sent.is_set()
    assert client.pubsub_numsub(worker.pubsub_channel_name)[0][1] == 0
