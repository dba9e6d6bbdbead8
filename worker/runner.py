"""The `switchboard worker` process: an rq worker (with scheduler) on Switchboard's queues.

Jobs run in forked work horses, as usual with rq. Before forking a deploy the worker process
brings its cached render of the node's tenant up to date (worker.deploys.prepare): the fork
inherits it, so a deploy after one change renders and validates in milliseconds, not seconds.

The worker reads its rq command channel (shutdown, stop-job, kill-horse) with its own
`CommandListener` instead of rq's: rq unsubscribes before it stops redis-py's reader thread, so
a reader that handles the unsubscribe reply first goes back to wait up to 60 s for a new
subscription, and redis-py's stop() joins it. Every burst worker (tests) and every stop of
`switchboard worker` then hung for a minute whenever the machine was busy enough to lose that race.
"""

from __future__ import annotations

import logging
import threading

import redis
from redis.client import PubSub
from rq import Queue, Worker
from rq.job import Job

from control.redis_conn import redis_client

QUEUES = ("deploys", "automations", "default")
DEPLOY_JOB = "worker.deploys.run_deploy"
READ_TIMEOUT = 60.0  # seconds one read of the command channel waits; stop() wakes it at once
STOP_TIMEOUT = 10.0  # seconds stop() waits for the reader to leave
RECONNECT_DELAY = 2.0  # seconds between attempts while Redis does not answer

log = logging.getLogger(__name__)


class CommandListener(threading.Thread):
    """Reads the worker's rq command channel until stop(); the channel's handler runs here."""

    def __init__(self, pubsub: PubSub) -> None:
        super().__init__(name="rq-commands", daemon=True)
        self.pubsub = pubsub
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_TIMEOUT)
            except redis.ConnectionError as exc:
                if self._stopping.is_set():
                    return
                log.error("command channel: Redis does not answer (%s), retrying", exc)
                self._stopping.wait(RECONNECT_DELAY)

    def stop(self) -> None:
        # The flag first: once the reader has handled the unsubscribe reply it must leave, not
        # wait for a subscription that will never come.
        self._stopping.set()
        try:
            self.pubsub.unsubscribe()  # its reply wakes the reader
        except redis.RedisError as exc:
            log.warning("command channel: could not unsubscribe (%s)", exc)
        self.join(STOP_TIMEOUT)
        if self.is_alive():
            log.warning("command channel: the reader did not stop within %.0f s", STOP_TIMEOUT)
            return
        self.pubsub.close()


class SwitchboardWorker(Worker):
    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name == DEPLOY_JOB and job.args:
            from worker.deploys import prepare

            prepare(int(job.args[0]))
        super().execute_job(job, queue)

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = CommandListener(self.pubsub)
        self.pubsub_thread.start()

    def unsubscribe(self) -> None:
        listener, self.pubsub_thread = self.pubsub_thread, None
        if isinstance(listener, CommandListener):
            listener.stop()


def run_worker(burst: bool = False) -> bool:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    connection = redis_client()
    queues = [Queue(name, connection=connection) for name in QUEUES]
    worker = SwitchboardWorker(queues, connection=connection)
    if not burst:
        from control.automation_jobs import next_minute, schedule_clock
        from control.broadcast_jobs import catch_up

        schedule_clock(next_minute(), connection)  # the automations' minute clock (one job a minute)
        due, running = catch_up(connection)
        if due or running:
            log.info("broadcasts: %d scheduled starts were due, %d running broadcasts resumed", due, running)
    return worker.work(with_scheduler=True, burst=burst)
