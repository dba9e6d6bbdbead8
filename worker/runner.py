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


class SwitchboardWorker(Worker):
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
