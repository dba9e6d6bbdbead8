"""The release of a replaced number at its cancel_at: an rq job scheduled at that second, run by
the real worker (forking, with its scheduler) under a clock the test moves 30 days on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
import time_machine
from sqlalchemy import select

from control import effects, jobs, number_providers
from control.db import unit_of_work, utcnow
from control.models import AuditLog, InventoryNumber, PhoneNumber
from control.services import number_lifecycle
from tests.worker.rq_support import deploy_redis, drain

QUEUES = (jobs.DEPLOY_QUEUE, jobs.NUMBER_QUEUE)


@pytest.fixture()
def rq_redis(database_url: str) -> Iterator:
    with deploy_redis() as client:
        jobs.register_apply_handlers()
        try:
            yield client
        finally:
            effects.clear_handlers()


def _replaced(tenant_id: int) -> tuple[int, int]:
    with unit_of_work() as s:
        number_providers.load_inventory(s, tenant_id, "number\n+12125550150\n+12125550151\n")
        old = number_lifecycle.buy_number(s, tenant_id, "+12125550150", None)
        s.flush()
        number_lifecycle.flag_high_risk(s, tenant_id, old.id, None)
        new = number_lifecycle.replace_number(s, tenant_id, old.id, {"buy": "+12125550151"}, None)
        return old.id, new.id


def _state(number_id: int) -> tuple[str, bool]:
    with unit_of_work() as s:
        number = s.get(PhoneNumber, number_id)
        row = s.scalar(select(InventoryNumber).where(InventoryNumber.e164 == number.e164))
        return number.status, row.available


def test_the_scheduled_job_releases_the_number_at_cancel_at(rq_redis, demo):
    old_id, _new_id = _replaced(demo["tenant_id"])
    with unit_of_work() as s:
        cancel_at = s.get(PhoneNumber, old_id).cancel_at
    assert cancel_at - utcnow() > timedelta(days=29, hours=23)
    job_id = jobs.number_cancellation_job_id(old_id)
    from rq import Queue

    registry = Queue(jobs.NUMBER_QUEUE, connection=rq_redis).scheduled_job_registry
    assert job_id in registry.get_job_ids()
    assert rq_redis.zscore(registry.key, job_id) == cancel_at.replace(tzinfo=UTC).timestamp()

    drain(rq_redis, queue_names=QUEUES, horizon=60)  # today: the job waits
    assert _state(old_id) == ("to_be_cancelled", False)

    with time_machine.travel(cancel_at.replace(tzinfo=UTC) - timedelta(seconds=5), tick=True):
        drain(rq_redis, queue_names=QUEUES, horizon=60)  # the scheduler moves it once due
    assert _state(old_id) == ("released", True)
    with unit_of_work() as s:
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "number.cancelled"))
        assert entry is not None and entry.target_id == old_id and entry.actor_id is None
    assert registry.get_job_ids() == []


def test_a_kept_number_is_not_released_and_a_reschedule_moves_the_job(rq_redis, demo):
    old_id, _new_id = _replaced(demo["tenant_id"])
    with unit_of_work() as s:
        cancel_at = s.get(PhoneNumber, old_id).cancel_at
        number_lifecycle.cancel_replacement(s, demo["tenant_id"], old_id, None)
    with time_machine.travel(cancel_at.replace(tzinfo=UTC) + timedelta(seconds=1), tick=True):
        drain(rq_redis, queue_names=QUEUES, horizon=60)
    assert _state(old_id) == ("high_risk", False)

    later = cancel_at + timedelta(days=1)
    jobs.schedule_number_cancellation(old_id, later)
    jobs.schedule_number_cancellation(old_id, later)  # one job per number, whatever the calls
    from rq import Queue

    registry = Queue(jobs.NUMBER_QUEUE, connection=rq_redis).scheduled_job_registry
    assert registry.get_job_ids() == [jobs.number_cancellation_job_id(old_id)]
