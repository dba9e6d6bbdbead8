"""The deploy job end to end on a real Redis with real (forking) rq workers, against the
FreeSWITCH stand-in behind the fake event socket; the Asterisk side is proven with the sandbox
in tests/integration/test_deploy.py."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select

from control import db, effects, jobs
from control.models import AuditLog, DeployRecord, PbxNode, QueueMember, User
from control.render import environment
from control.services import deploys, nodes, queues, ring_groups, users
from tests.worker.conftest import FsNode, record
from tests.worker.rq_support import drain
from worker import deploys as worker_deploys
from worker.runner import SwitchboardWorker


def _user_id(tenant_id: int, extension: str) -> int:
    s = db.new_session()
    try:
        return s.scalar(select(User.id).where(User.tenant_id == tenant_id, User.extension == extension))
    finally:
        s.close()


def test_first_deploy_writes_switches_reloads_and_verifies(fs: FsNode) -> None:
    done = fs.deploy()
    assert done.result == "success", done.error
    assert done.version == 1 and fs.live() == "versions/1"
    # A version holds the five entry points with their includes written in place.
    live = fs.conf_dir / "switchboard" / "live"
    assert sorted(p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file()) == [
        "callcenter.conf.xml",
        "dialplan/default.xml",
        "dialplan/public.xml",
        "directory.xml",
        "gateway.xml",
    ]
    assert b'<user id="1001">' in (live / "directory.xml").read_bytes()
    assert b"X-PRE-PROCESS" not in (live / "directory.xml").read_bytes()
    assert set(done.diff_summary["parts"]) == {"endpoints", "dialplan", "queues", "gateway"}
    assert done.diff_summary["objects_checked"] >= 6
    assert "reloadxml" in fs.sim.commands
    # mod_callcenter got each object; its tiers are the active memberships only.
    assert fs.sim.queues == {"700@acme.switchboard.test"}
    assert fs.sim.tiers == {
        ("700@acme.switchboard.test", "1001@acme.switchboard.test"),
        ("700@acme.switchboard.test", "1002@acme.switchboard.test"),
    }
    assert not any(c.startswith("reload mod_callcenter") for c in fs.sim.commands), "never reload the module"
    node = fs.node()
    assert (node.status, node.live_version, node.live_hash) == ("live", 1, done.content_hash)
    secret = fs.sim.users["1001"]["param:password"]
    assert secret and secret not in done.diff_text and "********" in done.diff_text
    s = db.new_session()
    try:
        assert deploys.sync_state(s, s.get(PbxNode, fs.node_id)).matches is True
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "deploy.success"))
        assert audit.detail["version"] == 1 and audit.target_id == fs.node_id
    finally:
        s.close()


def test_a_membership_change_reloads_only_the_queue_objects_it_touches(fs: FsNode) -> None:
    assert fs.deploy().result == "success"
    fs.sim.commands.clear()
    with db.unit_of_work() as s:
        queue_id = s.scalar(select(QueueMember.queue_id))
        queues.set_membership_active(s, fs.tenant_id, queue_id, _user_id(fs.tenant_id, "1002"), False, None)
        queues.set_membership_active(s, fs.tenant_id, queue_id, _user_id(fs.tenant_id, "1003"), True, None)
    done = fs.deploy()
    assert done.result == "success", done.error
    assert done.diff_summary["parts"] == ["queues"]
    assert [f["path"] for f in done.diff_summary["files"]] == ["callcenter.conf.xml"]
    assert '-  <tier agent="1002@acme.switchboard.test"' in done.diff_text
    cc = [c for c in fs.sim.commands if c.startswith("callcenter_config") and "list" not in c]
    assert cc == [
        "callcenter_config tier del 700@acme.switchboard.test 1002@acme.switchboard.test",
        "callcenter_config tier reload 700@acme.switchboard.test 1003@acme.switchboard.test",
    ]
    assert ("700@acme.switchboard.test", "1003@acme.switchboard.test") in fs.sim.tiers
    assert ("700@acme.switchboard.test", "1002@acme.switchboard.test") not in fs.sim.tiers


def test_a_change_the_pbx_does_not_show_fails_verification_and_restores_the_previous_version(
    fs: FsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fs.deploy().result == "success"
    with db.unit_of_work() as s:
        queue_id = s.scalar(select(QueueMember.queue_id))
        queues.set_membership_active(s, fs.tenant_id, queue_id, _user_id(fs.tenant_id, "1003"), True, None)
    # mod_callcenter acknowledges the tier but does not apply it.
    answer = fs.sim.callcenter
    monkeypatch.setattr(
        fs.sim, "callcenter", lambda args: "+OK\n" if args[:2] == ["tier", "reload"] else answer(args)
    )
    done = fs.deploy()
    assert done.result == "failed"
    assert done.error.startswith("verification failed, version 1 restored: queue 700@acme.switchboard.test")
    assert fs.live() == "versions/1" and fs.versions() == ["0", "1"]
    node = fs.node()
    assert (
        node.status == "failed" and node.live_version == 1 and "version 1 is still live" in node.status_detail
    )
    assert fs.sim.commands.count("reloadxml") == 3, "the restore reloads the previous version"


def test_a_broken_template_fails_before_anything_is_touched(fs: FsNode, site_templates: Path) -> None:
    assert fs.deploy().result == "success"
    fs.sim.commands.clear()
    override = site_templates / "freeswitch" / "directory" / "user.xml"
    override.parent.mkdir(parents=True)
    override.write_text('<include><user id="{{ user.extension }"/></include>\n')
    environment._environment.cache_clear()  # the worker process caches compiled templates
    with db.unit_of_work() as s:
        users.update_user(s, fs.tenant_id, _user_id(fs.tenant_id, "1001"), {"name": "Alice Renamed"}, None)
    done = fs.deploy()
    assert done.result == "failed" and done.error.startswith("render failed: TemplateSyntaxError")
    assert fs.sim.commands == [], "the PBX is not even contacted"
    assert fs.live() == "versions/1" and fs.versions() == ["0", "1"]
    assert fs.node().live_version == 1


def test_xml_that_is_not_well_formed_fails_validation(fs: FsNode, site_templates: Path) -> None:
    override = site_templates / "freeswitch" / "dialplan" / "default" / "user.xml"
    override.parent.mkdir(parents=True)
    override.write_text('<include><extension name="x-{{ user.extension }}"><condition></include>\n')
    environment._environment.cache_clear()  # the worker process caches compiled templates
    done = fs.deploy()
    assert done.result == "failed"
    assert done.error.startswith("validation failed: dialplan/default/user-1000.xml: not well-formed XML")
    assert fs.sim.commands == [] and fs.live() == "versions/0" and fs.versions() == ["0"]
    node = fs.node()
    assert node.status == "failed" and "nothing deployed yet" in node.status_detail


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_pbx_that_is_down_is_retried_with_backoff_then_fails_visibly(
    fs: FsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "RETRY_INTERVALS", (1, 2))
    with db.unit_of_work() as s:
        nodes.update_node(s, fs.node_id, {"port": _closed_port()}, None)
    started = time.monotonic()
    done = fs.deploy()
    elapsed = time.monotonic() - started
    assert done.result == "failed", (done.error, fs.node().status_detail, elapsed)
    assert done.error.startswith("the PBX did not answer after 3 attempts: ESL 127.0.0.1:")
    assert "Connection refused" in done.error
    # Two retries 1 s then 2 s apart (rq schedules to the second, so allow the rounding).
    assert elapsed >= 1.5
    node = fs.node()
    assert node.status == "unreachable" and node.live_version is None
    assert fs.versions() == ["0"]


def test_a_retry_that_finds_the_pbx_back_succeeds(fs: FsNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RETRY_INTERVALS", (1,))
    real_port = fs.node().port
    with db.unit_of_work() as s:
        nodes.update_node(s, fs.node_id, {"port": _closed_port()}, None)
        record_id = deploys.request_deploy(s, fs.node_id, None, source="cli").id
    jobs.start_deploy_job(record_id)
    queue = Queue(jobs.DEPLOY_QUEUE, connection=fs.client)

    SwitchboardWorker([queue], connection=fs.client).work(burst=True, logging_level="WARNING")
    waiting = record(record_id)
    assert waiting.result == "queued" and "Connection refused" in waiting.error
    node = fs.node()
    assert node.status == "unreachable" and "retrying in 1 s" in node.status_detail
    with db.unit_of_work() as s:
        nodes.update_node(s, fs.node_id, {"port": real_port}, None)
    drain(fs.client)
    assert record(record_id).result == "success"
    assert fs.node().status == "live"


def test_one_deploy_per_node_at_a_time(fs: FsNode) -> None:
    lock = fs.client.lock(jobs.lock_name(fs.node_id), timeout=30, thread_local=False)
    assert lock.acquire(blocking=False)
    released_at: list[datetime] = []
    waited: list[str] = []

    def release_once_the_job_waits() -> None:
        # The job has started in a work horse; for a second it must not get further than the lock
        # (a window to observe; a slower machine only makes the deploy later), then the holder lets go.
        started = Queue(jobs.DEPLOY_QUEUE, connection=fs.client).started_job_registry
        deadline = time.monotonic() + 30
        while not started.get_job_ids() and time.monotonic() < deadline:
            time.sleep(0.02)
        if started.get_job_ids():
            held_until = time.monotonic() + 1.0
            while time.monotonic() < held_until and record(record_id).started_at is None:
                time.sleep(0.05)
            waited.append("held" if record(record_id).started_at is None else "ran under the lock")
        released_at.append(datetime.now(UTC).replace(tzinfo=None))
        lock.release()

    with db.unit_of_work() as s:
        record_id = deploys.request_deploy(s, fs.node_id, None, source="cli").id
    holder = threading.Thread(target=release_once_the_job_waits)
    holder.start()
    try:
        jobs.start_deploy_job(record_id)
        drain(fs.client)
    finally:
        holder.join()
    done = record(record_id)
    assert waited == ["held"], waited or "the deploy job never started while the lock was held"
    assert done.result == "success"
    assert done.started_at >= released_at[0]


def test_a_burst_of_edits_becomes_one_deploy_with_the_merged_reloads(fs: FsNode) -> None:
    jobs.register_apply_handlers()
    try:
        first = datetime.now(UTC).replace(tzinfo=None)
        with db.unit_of_work() as s:
            group_id = ring_groups.list_ring_groups(s, fs.tenant_id).items[0].id
        for timeout in range(21, 31):
            with db.unit_of_work() as s:
                ring_groups.update_ring_group(s, fs.tenant_id, group_id, {"timeout": timeout}, None)
        with db.unit_of_work() as s:
            users.update_user(s, fs.tenant_id, _user_id(fs.tenant_id, "1004"), {"name": "Dan Burst"}, None)
        assert Queue(jobs.DEPLOY_QUEUE, connection=fs.client).count == 1, "one apply job for the window"
        drain(fs.client)
    finally:
        effects.clear_handlers()
    s = db.new_session()
    try:
        records = s.scalars(select(DeployRecord).where(DeployRecord.node_id == fs.node_id)).all()
    finally:
        s.close()
    assert len(records) == 1
    only = records[0]
    assert only.result == "success", only.error
    assert only.diff_summary["source"] == "auto" and only.actor_id is None
    assert set(only.diff_summary["requested"]) == {"dialplan", "endpoints", "queues"}
    assert (only.queued_at - first).total_seconds() >= jobs.APPLY_WINDOW - 0.05
    assert only.diff_summary["render"] == "incremental"
    assert b'value="Dan Burst"' in (fs.conf_dir / "switchboard" / "live" / "directory.xml").read_bytes()
    s = db.new_session()
    try:
        assert deploys.sync_state(s, s.get(PbxNode, fs.node_id)).matches is True, "incremental == full render"
    finally:
        s.close()
    assert fs.node().live_version == 1


def test_no_automatic_deploy_when_the_tenant_has_it_off(fs: FsNode) -> None:
    jobs.register_apply_handlers()
    try:
        with db.unit_of_work() as s:
            deploys.set_auto_apply(s, fs.tenant_id, False, None)
        with db.unit_of_work() as s:
            users.update_user(s, fs.tenant_id, _user_id(fs.tenant_id, "1004"), {"name": "Dan Quiet"}, None)
        assert Queue(jobs.DEPLOY_QUEUE, connection=fs.client).count == 0
        with db.unit_of_work() as s:
            deploys.set_auto_apply(s, fs.tenant_id, True, None)
        drain(fs.client)
    finally:
        effects.clear_handlers()
    node = fs.node()
    assert node.live_version == 1 and node.status == "live"


def test_rollback_switches_back_and_undoes_the_callcenter_changes(fs: FsNode) -> None:
    assert fs.deploy().result == "success"
    with db.unit_of_work() as s:
        queue_id = s.scalar(select(QueueMember.queue_id))
        queues.set_membership_active(s, fs.tenant_id, queue_id, _user_id(fs.tenant_id, "1001"), False, None)
    assert fs.deploy().version == 2
    assert ("700@acme.switchboard.test", "1001@acme.switchboard.test") not in fs.sim.tiers
    with db.unit_of_work() as s:
        record_id = deploys.request_rollback(s, fs.node_id, None, source="cli").id
    jobs.start_deploy_job(record_id)
    drain(fs.client)
    done = record(record_id)
    assert done.result == "success", done.error
    assert (done.kind, done.version, done.diff_summary["previous_version"]) == ("rollback", 1, 2)
    assert fs.live() == "versions/1"
    assert ("700@acme.switchboard.test", "1001@acme.switchboard.test") in fs.sim.tiers
    node = fs.node()
    assert node.live_version == 1 and node.live_hash == done.content_hash and done.content_hash


def test_old_versions_are_pruned_but_the_live_and_baseline_stay(
    fs: FsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_deploys, "KEEP_VERSIONS", 2)
    for name in ("One", "Two", "Three", "Four"):
        with db.unit_of_work() as s:
            users.update_user(s, fs.tenant_id, _user_id(fs.tenant_id, "1005"), {"name": f"Erin {name}"}, None)
        assert fs.deploy().result == "success"
    assert fs.versions() == ["0", "3", "4"] and fs.live() == "versions/4"


def test_a_job_queue_that_is_down_fails_the_deploy_visibly(
    fs: FsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as s:
        record_id = deploys.request_deploy(s, fs.node_id, None, source="cli").id
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{_closed_port()}/0")
    with pytest.raises(RedisError):
        jobs.start_deploy_job(record_id)
    failed = record(record_id)
    assert failed.result == "failed" and failed.error.startswith("could not queue the job")


def test_enqueueing_the_same_record_twice_runs_it_once(fs: FsNode) -> None:
    with db.unit_of_work() as s:
        record_id = deploys.request_deploy(s, fs.node_id, None, source="cli").id
    assert jobs.start_deploy_job(record_id) == jobs.start_deploy_job(record_id) == f"deploy-{record_id}"
    assert Queue(jobs.DEPLOY_QUEUE, connection=fs.client).count == 1
    drain(fs.client)
    assert record(record_id).result == "success"
