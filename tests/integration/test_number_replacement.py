"""Replacing a high-risk number, proven with real calls on each PBX kind (the `pbx` fixture).

A number bought from the inventory routes the line "Sales" (ring group 601: 1001 rings first).
Marked high risk, it is replaced by a number bought now: after the deploy both route to the same
line. The clock then moves (time-machine) to just before the old number's cancel_at, 30 days on:
it still routes; the rq job scheduled at cancel_at runs (the real worker and its scheduler),
releases it and returns it to the inventory, and the automatic apply redeploys: a carrier's call
to it is refused, while the replacement still routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, timedelta

import pytest
import time_machine
from rq import Queue
from sqlalchemy import select

from control import db, effects, jobs, number_providers
from control.models import AuditLog, DeployRecord, InventoryNumber, PhoneNumber
from control.services import number_lifecycle, numbers
from tests.integration.pbx_kinds import Pbx
from tests.integration.pbx_world import DeployWorld, Model, deploy_scenario
from tests.integration.sipp import CallResult, Phone, SippSession
from tests.worker.rq_support import drain

pytestmark = pytest.mark.integration

OLD = "+12125550157"
NEW = "+12125550158"
OUTSIDE_CALLER = "15551234567"
QUEUES = (jobs.DEPLOY_QUEUE, jobs.NUMBER_QUEUE)


@dataclass
class World(DeployWorld):
    pbx: Pbx
    model: Model
    sipp: SippSession
    outside: SippSession
    phones: dict[str, Phone] = field(default_factory=dict)

    def from_the_trunk(self, number: str, **kwargs) -> CallResult:  # type: ignore[no-untyped-def]
        return self.outside.call(number, caller=OUTSIDE_CALLER, **kwargs)

    # INVITEs are counted, not dated: the phones' sipp keeps the real time, the test may travel.
    def rings_the_line(self, number: str) -> bool:
        """A carrier's call to `number` rings 1001 (the line's ring group's first member)."""
        before = len(self.phones["1001"].invites())
        result = self.from_the_trunk(number, cancel_after=1.5, timeout=20)
        return result.outcome == "cancelled" and len(self.phones["1001"].invites()) == before + 1

    def refused(self, number: str) -> CallResult:
        before = len(self.phones["1001"].invites())
        result = self.from_the_trunk(number, timeout=15)
        assert len(self.phones["1001"].invites()) == before, number
        return result


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with deploy_scenario(World, pbx, tmp_path_factory.mktemp(f"numbers-{pbx.kind}")) as built:
        jobs.register_apply_handlers()  # as in `switchboard worker`: jobs' edits are applied
        try:
            yield built
        finally:
            effects.clear_handlers()


def _number(e164: str) -> PhoneNumber:
    s = db.new_session()
    try:
        return s.scalars(select(PhoneNumber).where(PhoneNumber.e164 == e164)).one()
    finally:
        s.close()


def _for_sale(e164: str) -> bool:
    s = db.new_session()
    try:
        return bool(s.scalar(select(InventoryNumber.available).where(InventoryNumber.e164 == e164)))
    finally:
        s.close()


def _deploys_since(node_id: int, since_id: int) -> list[DeployRecord]:
    s = db.new_session()
    try:
        return list(
            s.scalars(select(DeployRecord).where(DeployRecord.node_id == node_id, DeployRecord.id > since_id))
        )
    finally:
        s.close()


def test_replace_a_high_risk_number(world: World) -> None:
    tenant_id, line_id = world.model.tenant_id, world.model.ids["line"]
    with db.unit_of_work() as s:
        number_providers.load_inventory(s, tenant_id, f"number\n{OLD}\n{NEW}\n")
        old_id = number_lifecycle.buy_number(s, tenant_id, OLD, None).id
        s.flush()
        numbers.transfer_number(s, tenant_id, old_id, line_id, None)
    record = world.deploy()
    assert record.result == "success", record.error
    for ext in ("1001", "1002"):
        world.phones[ext] = world.sipp.phone(ext, world.model.secrets[ext], answer_after=None)
    assert world.rings_the_line(OLD)
    assert world.refused(NEW).outcome == "rejected", "not bought yet: no route"

    # Red, then replaced by a number bought now: both route to the line after the deploy.
    with db.unit_of_work() as s:
        number_lifecycle.flag_high_risk(s, tenant_id, old_id, None)
        new_id = number_lifecycle.replace_number(s, tenant_id, old_id, {"buy": NEW}, None).id
    last = record.id
    drain(world.client, queue_names=QUEUES, horizon=60)  # the automatic apply
    applied = _deploys_since(world.node_id, last)
    assert applied and all(r.result == "success" for r in applied), [(r.id, r.error) for r in applied]
    old, new = _number(OLD), _number(NEW)
    assert (old.status, old.line_id, new.status, new.line_id) == (
        "to_be_cancelled",
        line_id,
        "active",
        line_id,
    )
    assert world.rings_the_line(NEW), "the replacement routes at once"
    assert world.rings_the_line(OLD), "the old number keeps answering"
    cancel_at = old.cancel_at.replace(tzinfo=UTC)
    registry = Queue(jobs.NUMBER_QUEUE, connection=world.client).scheduled_job_registry
    assert world.client.zscore(registry.key, jobs.number_cancellation_job_id(old_id)) == cancel_at.timestamp()

    # 30 days on, a few seconds before cancel_at: still routing; then the job releases it.
    last = max(r.id for r in applied)
    with time_machine.travel(cancel_at - timedelta(seconds=8), tick=True):
        assert world.rings_the_line(OLD)
        assert _number(OLD).status == "to_be_cancelled"
        drain(world.client, queue_names=QUEUES, timeout=180, horizon=60)
    released = _number(OLD)
    assert (released.status, released.line_id, released.cancel_at) == ("released", None, None)
    assert _for_sale(OLD) and not _for_sale(NEW), "back in the inventory"
    redeployed = _deploys_since(world.node_id, last)
    assert redeployed and all(r.result == "success" for r in redeployed), [
        (r.id, r.error) for r in redeployed
    ]
    s = db.new_session()
    try:
        assert s.scalar(
            select(AuditLog).where(AuditLog.action == "number.cancelled", AuditLog.target_id == old_id)
        )
    finally:
        s.close()
    refused = world.refused(OLD)
    assert refused.outcome == "rejected", refused
    assert world.rings_the_line(NEW)
    assert _number(NEW).id == new_id
