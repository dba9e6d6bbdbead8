"""The `switchboard worker` process: an rq worker (with scheduler) on Switchboard's queues.

Jobs run in forked work horses, as usual with rq. Before forking a deploy the worker process
brings its cached render of the node's tenant up to date (worker.deploys.prepare): the fork
inherits it, so a deploy after one change renders and validates in milliseconds, not seconds.
"""

from __future__ import annotations

import logging

from rq import Queue, Worker
from rq.job import Job

from control.redis_conn import redis_client

QUEUES = ("deploys", "default")
DEPLOY_JOB = "worker.deploys.run_deploy"


# How long the worker's pubsub thread (rq's command channel) blocks between looks at its stop flag.
# rq says 60 s; redis-py 8 joins that thread on stop with no time limit, and once unsubscribed the
# thread sits out its whole wait: a warm shutdown took up to a minute. One second keeps it short.
PUBSUB_POLL_SECONDS = 1.0


class SwitchboardWorker(Worker):
    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name == DEPLOY_JOB and job.args:
            from worker.deploys import prepare

            prepare(int(job.args[0]))
        super().execute_job(job, queue)


def run_worker(burst: bool = False) -> bool:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    connection = redis_client()
    queues = [Queue(name, connection=connection) for name in QUEUES]
    worker = SwitchboardWorker(queues, connection=connection)
    return worker.work(with_scheduler=True, burst=burst)
