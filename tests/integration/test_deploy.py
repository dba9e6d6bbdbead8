"""Deploys proven with real calls, on each PBX kind (the `pbx` fixture): the model goes through the
service layer, an rq worker deploys it to the sandbox over AMI or ESL, and sipp phones, callers
and a trunk show how calls are routed.

One scenario per module and PBX kind (the phones register once): pbx_world.build_model's users
1001-1003, ring groups 600 (parallel) and 601 (sequential, 3 s each), queue 700 (1001 active,
1002 inactive), a line whose number goes to 601. The sandbox is held exclusively and left with
live -> versions/0 at the end.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from rq import Queue
from sqlalchemy import select

from control import config, db, effects, jobs
from control.models import AuditLog, DeployRecord, PbxNode, RingGroup
from control.render import environment
from control.services import deploys, lines, queues, ring_groups, users
from tests.integration.pbx_kinds import Pbx
from tests.integration.pbx_world import LINE_NUMBER, DeployWorld, Model, deploy_scenario
from tests.integration.sipp import CallResult, Phone, SippSession
from tests.worker.rq_support import drain
from worker.runner import SwitchboardWorker

pytestmark = pytest.mark.integration

OUTSIDE_CALLER = "15551234567"


@dataclass
class World(DeployWorld):
    pbx: Pbx
    model: Model
    sipp: SippSession
    outside: SippSession
    phones: dict[str, Phone] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)

    def call(self, number: str, **kwargs) -> CallResult:  # type: ignore[no-untyped-def]
        """A call from phone 1003 (authenticated), given up `cancel_after` seconds after it
        rings (or after it is answered: a FreeSWITCH queue answers with hold music first)."""
        return self.sipp.call(number, caller="1003", password=self.model.secrets["1003"], **kwargs)

    def from_the_trunk(self, number: str, **kwargs) -> CallResult:  # type: ignore[no-untyped-def]
        """A carrier's call to one of the tenant's numbers."""
        return self.outside.call(number, caller=OUTSIDE_CALLER, **kwargs)

    def invites(self, extension: str, since: float) -> list[float]:
        return [at for at in self.phones[extension].invites() if at >= since]

    def offered(self, number: str, offered_to: str) -> float:
        """Call `number` until `offered_to`'s phone rings (it never answers), then give up;
        returns when the call started."""
        started = time.time()
        count = len(self.phones[offered_to].invites())
        call = self.sipp.start_call(
            number, caller="1003", password=self.model.secrets["1003"], cancel_after=2.5, timeout=20
        )
        self.phones[offered_to].wait_for_invites(count + 1, timeout=10)
        call.wait()
        return started


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with deploy_scenario(World, pbx, tmp_path_factory.mktemp(f"deploy-{pbx.kind}")) as built:
        yield built


def _audited(action: str) -> bool:
    s = db.new_session()
    try:
        return s.scalar(select(AuditLog).where(AuditLog.action == action)) is not None
    finally:
        s.close()


def test_first_deploy_goes_live_verified_and_audited(world: World) -> None:
    pbx, sandbox, domain = world.pbx, world.pbx.sandbox, world.model.domain
    mark = sandbox.mark_log()
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.version == 1 and record.content_hash
    summary = record.diff_summary
    assert summary["previous_version"] == 0
    assert {"dialplan", "endpoints", "queues"} <= set(summary["parts"]), summary["parts"]
    # users, groups, the queue and its members or tiers, the line
    assert summary["objects_checked"] >= 8, summary
    assert {"render", "validate", "write", "reload", "verify"} <= set(summary["timings"])
    written = sorted(
        p.relative_to(sandbox.version_dir(1)).as_posix() for p in sandbox.version_dir(1).rglob("*")
    )
    assert set(pbx.included_files) <= set(written), written
    assert world.model.secrets["1001"] not in record.diff_text, "SIP secrets never reach the recorded diff"
    node = world.node()
    assert (node.status, node.live_version, node.live_hash) == ("live", 1, record.content_hash)
    assert sandbox.live_version() == 1
    assert all(pbx.has_user(ext, domain) for ext in ("1001", "1002", "1003"))
    assert pbx.queue_offers_to("700", domain) == {"1001"}, "1002's membership is inactive"
    assert sandbox.log_errors(since=mark, ignore=pbx.log_ignore) == []
    assert _audited("deploy.request") and _audited("deploy.success")
    world.versions.append(record.version)
    for ext in ("1001", "1002"):
        world.phones[ext] = world.sipp.phone(ext, world.model.secrets[ext], answer_after=None)


def test_an_extension_call_rings_the_other_phone_only(world: World) -> None:
    started = time.time()
    result = world.call("1002", cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1002", started)) == 1
    assert world.invites("1001", started) == []


def test_parallel_group_rings_both_phones_at_once(world: World) -> None:
    started = time.time()
    result = world.call("600", cancel_after=2.0, timeout=20)
    assert result.outcome == "cancelled", result
    first = world.invites("1001", started)
    second = world.invites("1002", started)
    assert len(first) == 1 and len(second) == 1
    assert abs(first[0] - second[0]) < 0.5


def test_sequential_group_rings_one_phone_after_the_other(world: World) -> None:
    started = time.time()
    result = world.call("601", timeout=20)
    # Nobody answers: after 1001's 3 s and 1002's 3 s the group gives up.
    assert result.outcome == "rejected" and 5.5 <= result.ended_at - result.started_at <= 8, result
    first = world.invites("1001", started)
    second = world.invites("1002", started)
    assert len(first) == 1 and len(second) == 1
    # 1002 rings only once 1001's 3 s are over, never both at once.
    assert 2.7 <= second[0] - first[0] <= 4.5
    cancels = [e.at for e in world.phones["1001"].events() if e.kind == "CANCEL" and e.at >= started]
    assert cancels and cancels[0] <= second[0] + 0.05


def test_a_line_number_follows_the_line_and_a_paused_line_refuses(world: World) -> None:
    started = time.time()
    result = world.from_the_trunk(LINE_NUMBER, cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1001", started)) == 1, "the line goes to 601, whose first member is 1001"
    assert world.invites("1002", started) == []

    with db.unit_of_work() as s:
        lines.set_status(s, world.model.tenant_id, world.model.ids["line"], "paused", None)
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.diff_summary["parts"] == ["dialplan"], "only what changed is reloaded"
    world.versions.append(record.version)

    started = time.time()
    refused = world.from_the_trunk(LINE_NUMBER, timeout=15)
    assert refused.outcome == "rejected" and refused.final_code == 480, refused
    assert world.invites("1001", started) == [] and world.invites("1002", started) == []


def test_a_queue_offers_to_its_active_member_only_then_the_other_way_round(world: World) -> None:
    started = world.offered("700", offered_to="1001")
    assert world.invites("1002", started) == [], "1002's membership is inactive"

    tenant_id, ids = world.model.tenant_id, world.model.ids
    with db.unit_of_work() as s:
        queues.set_membership_active(s, tenant_id, ids["700"], ids["1001"], False, None)
        queues.set_membership_active(s, tenant_id, ids["700"], ids["1002"], True, None)
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.diff_summary["parts"] == ["queues"]
    world.versions.append(record.version)
    assert world.pbx.queue_offers_to("700", world.model.domain) == {"1002"}

    started = world.offered("700", offered_to="1002")
    assert world.invites("1001", started) == [], "1001's membership is inactive now"


def _still_routes(world: World) -> None:
    """The config live before the failed deploy: 600 rings both, 700 goes to 1002 only."""
    started = time.time()
    world.call("600", cancel_after=1.5, timeout=20)
    assert len(world.invites("1001", started)) == 1 and len(world.invites("1002", started)) == 1
    started = world.offered("700", offered_to="1002")
    assert world.invites("1001", started) == []


def test_a_broken_template_fails_and_the_previous_config_keeps_routing(world: World) -> None:
    live = world.node().live_version
    name, broken = world.pbx.group_template
    override = config.settings().data_dir / "templates" / name
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(broken)
    environment._environment.cache_clear()
    try:
        with db.unit_of_work() as s:
            ring_groups.update_ring_group(
                s, world.model.tenant_id, world.model.ids["600"], {"timeout": 25}, None
            )
        record = world.deploy()
    finally:
        shutil.rmtree(config.settings().data_dir / "templates")
        environment._environment.cache_clear()
    assert record.result == "failed"
    assert record.error.startswith("render failed: TemplateSyntaxError"), record.error
    node = world.node()
    assert node.status == "failed" and node.live_version == live
    assert f"version {live} is still live" in node.status_detail
    assert world.pbx.sandbox.live_version() == live
    _still_routes(world)


def test_an_invalid_value_fails_and_the_previous_config_keeps_routing(world: World) -> None:
    live = world.node().live_version
    group = world.model.ids["600"]
    # A row no service would write (an old import, a manual UPDATE): the render must refuse it.
    with db.unit_of_work() as s:
        s.execute(
            RingGroup.__table__.update().where(RingGroup.id == group).values(extension="600,1,System(id)")
        )
    try:
        record = world.deploy()
    finally:
        with db.unit_of_work() as s:
            s.execute(RingGroup.__table__.update().where(RingGroup.id == group).values(extension="600"))
    assert record.result == "failed"
    assert "render failed: RenderError" in record.error and "600,1,System(id)" in record.error
    assert world.node().live_version == live and world.pbx.sandbox.live_version() == live
    assert not world.pbx.sandbox.version_dir(live + 1).exists()
    _still_routes(world)


def test_a_deploy_while_the_pbx_is_down_waits_and_the_previous_config_keeps_routing(world: World) -> None:
    """The PBX does not answer: the attempt fails without touching what is live, the node says
    so and the job is retried with backoff; calls still route on the previous version once the
    PBX is back, and the retry delivers the pending change."""
    live = world.node().live_version
    sandbox = world.pbx.sandbox
    with db.unit_of_work() as s:
        record_id = deploys.request_deploy(s, world.node_id, None, source="cli").id
    sandbox.stop()
    try:
        jobs.start_deploy_job(record_id)
        # One attempt, not the retries: the job's first try meets the stopped PBX.
        SwitchboardWorker([Queue(jobs.DEPLOY_QUEUE, connection=world.client)], connection=world.client).work(
            burst=True, logging_level="WARNING"
        )
    finally:
        sandbox.start()
    record, node = world.record(record_id), world.node()
    assert record.result == "queued" and record.error, (record.result, record.error)
    assert node.status == "unreachable" and "retrying in" in node.status_detail, node.status_detail
    assert node.live_version == live and sandbox.live_version() == live
    assert not sandbox.version_dir(live + 1).exists()
    for phone in world.phones.values():
        assert phone.register() == 200
    _still_routes(world)
    # The pending edit (600's timeout, from the broken-template test) goes live on the retry.
    drain(world.client)
    record = world.record(record_id)
    assert record.result == "success", record.error
    assert record.version == live + 1 and world.node().live_version == live + 1
    world.versions.append(record.version)


def test_a_deploy_without_changes_is_a_verified_no_op(world: World) -> None:
    again = world.deploy()
    assert again.result == "success"
    assert again.version == world.versions[-1] and again.diff_summary["unchanged"] is True
    assert again.diff_summary["objects_checked"] > 0
    kept = sorted(p.name for p in (world.pbx.sandbox.switchboard_dir / "versions").iterdir())
    assert kept == sorted(["0", *map(str, world.versions)])


def test_rollback_restores_the_previous_routing(world: World) -> None:
    # Back to the version before the queue swap: 700 goes to 1001 again.
    target = world.versions[1]
    with db.unit_of_work() as s:
        record_id = deploys.request_rollback(s, world.node_id, None, target, source="cli").id
    jobs.start_deploy_job(record_id)
    drain(world.client)
    record = world.record(record_id)
    assert record.result == "success", record.error
    assert record.kind == "rollback" and record.version == target
    assert "queues" in record.diff_summary["parts"]
    assert world.node().live_version == target and world.pbx.sandbox.live_version() == target
    started = world.offered("700", offered_to="1001")
    assert world.invites("1002", started) == []
    assert _audited("rollback.success")
    s = db.new_session()
    try:
        assert deploys.sync_state(s, s.get(PbxNode, world.node_id)).matches is False
    finally:
        s.close()


def test_model_changes_apply_automatically_as_one_deploy(world: World) -> None:
    tenant_id, ids = world.model.tenant_id, world.model.ids
    jobs.register_apply_handlers()
    try:
        started = _naive(time.time())
        for timeout in (21, 22, 23, 24, 25):
            with db.unit_of_work() as s:
                ring_groups.update_ring_group(s, tenant_id, ids["601"], {"timeout": timeout}, None)
        with db.unit_of_work() as s:
            users.update_user(s, tenant_id, ids["1003"], {"name": "Cat Two"}, None)
        drain(world.client)
    finally:
        effects.clear_handlers()
    s = db.new_session()
    try:
        autos = s.scalars(
            select(DeployRecord).where(
                DeployRecord.node_id == world.node_id, DeployRecord.queued_at >= started
            )
        ).all()
        matches = deploys.sync_state(s, s.get(PbxNode, world.node_id)).matches
    finally:
        s.close()
    assert len(autos) == 1, [(r.id, r.diff_summary) for r in autos]
    auto = autos[0]
    assert auto.result == "success", auto.error
    assert auto.diff_summary["source"] == "auto"
    assert set(auto.diff_summary["requested"]) >= {"dialplan", "endpoints"}
    assert matches is True, "after the automatic apply the live config is the model"
    assert world.pbx.caller_name("1003", world.model.domain) == "Cat Two"


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
