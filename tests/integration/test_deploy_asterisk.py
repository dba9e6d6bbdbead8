"""Deploys proven with real calls: the model goes through the service layer, an rq worker deploys
it to the sandbox Asterisk over AMI, and sipp phones and callers show how calls are routed.

One scenario per module (the phones register once): users 1001-1003, ring groups 600 (parallel)
and 601 (sequential, 3 s each), queue 700 (1001 active, 1002 inactive), a line whose number goes
to 601. The sandbox is held exclusively and left with live -> versions/0 at the end.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
from sqlalchemy import select

from control import config, db, effects, jobs
from control.models import AuditLog, DeployRecord, PbxNode, RingGroup
from control.render import environment
from control.services import deploys, lines, queues, ring_groups, users
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.pbx_world import LINE_NUMBER, build_model, create_node
from tests.integration.sipp import Phone, SippSession
from tests.worker.rq_support import deploy_redis, drain

pytestmark = pytest.mark.integration


@dataclass
class World:
    sandbox: AsteriskSandbox
    client: redis.Redis
    sipp: SippSession
    tenant_id: int
    node_id: int
    ids: dict[str, int]
    secrets: dict[str, str]
    phones: dict[str, Phone] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)

    def deploy(self) -> DeployRecord:
        with db.unit_of_work() as s:
            record_id = deploys.request_deploy(s, self.node_id, None, source="cli").id
        jobs.start_deploy_job(record_id)
        drain(self.client)
        return self.record(record_id)

    def record(self, record_id: int) -> DeployRecord:
        s = db.new_session()
        try:
            return s.get(DeployRecord, record_id)
        finally:
            s.close()

    def node(self) -> PbxNode:
        s = db.new_session()
        try:
            return s.get(PbxNode, self.node_id)
        finally:
            s.close()

    def call(self, number: str, **kwargs):  # type: ignore[no-untyped-def]
        """A call from phone 1003 (authenticated), cancelled after `cancel_after` seconds of ringing."""
        return self.sipp.call(number, caller="1003", password=self.secrets["1003"], **kwargs)

    def invites(self, extension: str, since: float) -> list[float]:
        return [at for at in self.phones[extension].invites() if at >= since]


@pytest.fixture(scope="module")
def world(
    module_database_url: str, asterisk_sandbox: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    sandbox = asterisk_sandbox
    with sandbox.exclusive(), deploy_redis() as client:
        sandbox.reset()
        model = build_model()
        tenant_id, ids, secrets = model.tenant_id, model.ids, model.secrets
        node_id = create_node(sandbox, tenant_id)
        with SippSession(tmp_path_factory.mktemp("sipp")) as sipp:
            world = World(sandbox, client, sipp, tenant_id, node_id, ids, secrets)
            try:
                yield world
            finally:
                sipp.close()
                sandbox.reset()


def _register_phones(world: World) -> None:
    for ext in ("1001", "1002"):
        if ext not in world.phones:
            world.phones[ext] = world.sipp.phone(ext, world.secrets[ext], answer_after=None)


def test_first_deploy_goes_live_verified_and_audited(world: World) -> None:
    mark = world.sandbox.mark_log()
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.version == 1 and record.content_hash
    summary = record.diff_summary
    assert summary["previous_version"] == 0
    assert summary["parts"] == ["dialplan", "endpoints", "queues"]
    assert summary["objects_checked"] >= 8
    assert {"render", "validate", "write", "reload", "verify"} <= set(summary["timings"])
    assert sorted(f["path"] for f in summary["files"]) == ["extensions.conf", "pjsip.conf", "queues.conf"]
    version = world.sandbox.version_dir(1)
    assert sorted(p.name for p in version.iterdir()) == ["extensions.conf", "pjsip.conf", "queues.conf"]
    assert (
        b"[1001]" in (version / "pjsip.conf").read_bytes()
        and b"#include" not in (version / "pjsip.conf").read_bytes()
    )
    assert world.secrets["1001"] not in record.diff_text, "SIP secrets never reach the recorded diff"
    node = world.node()
    assert (node.status, node.live_version, node.live_hash) == ("live", 1, record.content_hash)
    assert world.sandbox.live_version() == 1
    assert "1001" in world.sandbox.cli("pjsip show endpoints")
    assert "queue-700" in world.sandbox.cli("queue show queue-700")
    assert world.sandbox.log_errors(since=mark) == []
    s = db.new_session()
    try:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.target_type == "PbxNode")).all()
    finally:
        s.close()
    assert "deploy.request" in actions and "deploy.success" in actions
    world.versions.append(record.version)
    _register_phones(world)


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


def test_a_line_number_follows_the_line_and_a_paused_line_rejects(world: World) -> None:
    started = time.time()
    result = world.sipp.call(LINE_NUMBER, caller="15551234567", cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1001", started)) == 1, "the line goes to 601, whose first member is 1001"
    assert world.invites("1002", started) == []

    with db.unit_of_work() as s:
        lines.set_status(s, world.tenant_id, world.ids["line"], "paused", None)
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.diff_summary["parts"] == ["dialplan"], "only what changed is reloaded"
    world.versions.append(record.version)

    started = time.time()
    rejected = world.sipp.call(LINE_NUMBER, caller="15551234567", timeout=15)
    assert rejected.outcome == "rejected" and rejected.final_code >= 400
    assert world.invites("1001", started) == [] and world.invites("1002", started) == []


def test_a_queue_delivers_to_its_active_member_only_then_the_other_way_round(world: World) -> None:
    started = time.time()
    world.call("700", cancel_after=2.5, timeout=20)
    assert len(world.invites("1001", started)) >= 1
    assert world.invites("1002", started) == []

    with db.unit_of_work() as s:
        queues.set_membership_active(s, world.tenant_id, world.ids["700"], world.ids["1001"], False, None)
        queues.set_membership_active(s, world.tenant_id, world.ids["700"], world.ids["1002"], True, None)
    record = world.deploy()
    assert record.result == "success", record.error
    assert record.diff_summary["parts"] == ["queues"]
    world.versions.append(record.version)

    started = time.time()
    world.call("700", cancel_after=2.5, timeout=20)
    assert len(world.invites("1002", started)) >= 1
    assert world.invites("1001", started) == []


def _still_routes(world: World) -> None:
    """The config live before the failed deploy: 600 rings both, 700 goes to 1002 only."""
    started = time.time()
    world.call("600", cancel_after=1.5, timeout=20)
    assert len(world.invites("1001", started)) == 1 and len(world.invites("1002", started)) == 1
    started = time.time()
    world.call("700", cancel_after=2.0, timeout=20)
    assert len(world.invites("1002", started)) >= 1 and world.invites("1001", started) == []


def test_a_broken_template_fails_and_the_previous_config_keeps_routing(world: World) -> None:
    live = world.node().live_version
    override = config.settings().data_dir / "templates" / "asterisk" / "extensions.d" / "group.conf"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text("[switchboard-internal]\nexten => {{ group.extension ,1,Hangup()\n")
    environment._environment.cache_clear()
    try:
        with db.unit_of_work() as s:
            ring_groups.update_ring_group(s, world.tenant_id, world.ids["600"], {"timeout": 25}, None)
        record = world.deploy()
    finally:
        shutil.rmtree(override.parents[1])
        environment._environment.cache_clear()
    assert record.result == "failed"
    assert record.error.startswith("render failed: TemplateSyntaxError")
    node = world.node()
    assert node.status == "failed" and node.live_version == live
    assert f"version {live} is still live" in node.status_detail
    assert world.sandbox.live_version() == live
    _still_routes(world)


def test_an_invalid_value_fails_and_the_previous_config_keeps_routing(world: World) -> None:
    live = world.node().live_version
    # A row no service would write (an old import, a manual UPDATE): the render must refuse it.
    with db.unit_of_work() as s:
        s.execute(
            RingGroup.__table__.update()
            .where(RingGroup.id == world.ids["600"])
            .values(extension="600,1,System(id)")
        )
    try:
        record = world.deploy()
    finally:
        with db.unit_of_work() as s:
            s.execute(
                RingGroup.__table__.update().where(RingGroup.id == world.ids["600"]).values(extension="600")
            )
    assert record.result == "failed"
    assert "render failed: RenderError" in record.error and "600,1,System(id)" in record.error
    assert world.node().live_version == live and world.sandbox.live_version() == live
    assert not (world.sandbox.switchboard_dir / "versions" / str(live + 1)).exists()
    _still_routes(world)


def test_a_deploy_without_changes_is_a_verified_no_op(world: World) -> None:
    # The timeout edit of the broken-template test is still waiting: deploy it first.
    first = world.deploy()
    assert first.result == "success", first.error
    world.versions.append(first.version)
    again = world.deploy()
    assert again.result == "success"
    assert again.version == first.version and again.diff_summary["unchanged"] is True
    assert again.diff_summary["objects_checked"] > 0
    assert sorted(p.name for p in (world.sandbox.switchboard_dir / "versions").iterdir()) == sorted(
        ["0", *map(str, world.versions)]
    )


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
    assert world.node().live_version == target and world.sandbox.live_version() == target
    started = time.time()
    world.call("700", cancel_after=2.5, timeout=20)
    assert len(world.invites("1001", started)) >= 1
    assert world.invites("1002", started) == []
    s = db.new_session()
    try:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "rollback.success")) is not None
        assert deploys.sync_state(s, s.get(PbxNode, world.node_id)).matches is False
    finally:
        s.close()


def test_model_changes_apply_automatically_as_one_deploy(world: World) -> None:
    jobs.register_apply_handlers()
    try:
        started = time.time()
        for timeout in (21, 22, 23, 24, 25):
            with db.unit_of_work() as s:
                ring_groups.update_ring_group(
                    s, world.tenant_id, world.ids["601"], {"timeout": timeout}, None
                )
        with db.unit_of_work() as s:
            users.update_user(s, world.tenant_id, world.ids["1003"], {"name": "Cat Two"}, None)
        drain(world.client)
    finally:
        effects.clear_handlers()
    s = db.new_session()
    try:
        autos = s.scalars(
            select(DeployRecord).where(
                DeployRecord.node_id == world.node_id, DeployRecord.queued_at >= _naive(started)
            )
        ).all()
        node = s.get(PbxNode, world.node_id)
        matches = deploys.sync_state(s, node).matches
    finally:
        s.close()
    assert len(autos) == 1, [(r.id, r.diff_summary) for r in autos]
    auto = autos[0]
    assert auto.result == "success", auto.error
    assert auto.diff_summary["source"] == "auto"
    assert set(auto.diff_summary["requested"]) >= {"dialplan", "endpoints"}
    assert matches is True, "after the automatic apply the live config is the model"
    assert "Cat Two" in world.sandbox.cli("pjsip show endpoint 1003")


def _naive(epoch: float):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
