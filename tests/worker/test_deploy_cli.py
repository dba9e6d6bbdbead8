"""`switchboard node add|list|remove`, `deploy NODE [--wait]` and `rollback NODE [VERSION]`."""

from __future__ import annotations

import threading
import time

from click.testing import CliRunner, Result
from rq import Queue
from sqlalchemy import select

from control import db, jobs
from control.models import DeployRecord, PbxNode
from control.render import environment
from control.services import nodes
from tests.worker.conftest import FsNode
from tests.worker.rq_support import drain
from web.cli import cli


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _invoke_while_a_worker_runs(fs: FsNode, *args: str) -> Result:
    """`deploy --wait` needs a worker: run the CLI in a thread and the rq worker here."""
    done: list[Result] = []
    thread = threading.Thread(target=lambda: done.append(_invoke(*args)))
    thread.start()
    queue = Queue(jobs.DEPLOY_QUEUE, connection=fs.client)
    deadline = time.monotonic() + 20
    while queue.count == 0 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    drain(fs.client)
    thread.join(timeout=30)
    return done[0]


def test_node_add_list_and_remove(demo, session):
    added = _invoke(
        "node", "add", "edge-1", "--kind", "asterisk", "--host", "10.1.1.1", "--ami-port", "5039",
        "--user", "switchboard", "--secret", "cli-secret", "--config-dir", "/etc/asterisk",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "node edge-1 added (asterisk 10.1.1.1:5039)" in added.output
    node = session.scalar(select(PbxNode).where(PbxNode.name == "edge-1"))
    assert node.tenant_id == demo["tenant_id"] and nodes.node_secret(node) == "cli-secret"
    listed = _invoke("node", "list")
    assert "edge-1" in listed.output and "live=-" in listed.output and "cli-secret" not in listed.output
    refused = CliRunner().invoke(
        cli,
        [
            "node",
            "add",
            "edge-1",
            "--kind",
            "freeswitch",
            "--host",
            "h",
            "--secret",
            "x",
            "--config-dir",
            "rel",
        ],
    )
    assert refused.exit_code == 1
    assert "Another node already has this name." in refused.output and "An absolute path" in refused.output
    assert _invoke("node", "remove", "edge-1").exit_code == 0
    missing = CliRunner().invoke(cli, ["node", "remove", "edge-1"])
    assert missing.exit_code == 1 and "no node named 'edge-1'" in missing.output


def test_deploy_wait_reports_the_live_version(fs: FsNode):
    name = fs.node().name
    result = _invoke_while_a_worker_runs(fs, "deploy", name, "--wait", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert "deploy #1 queued" in result.output
    assert (
        "deploy #1: success, version 1 is live (reloaded dialplan, endpoints, gateway, queues"
        in result.output
    )
    assert fs.live() == "versions/1"


def test_deploy_wait_exits_1_with_the_reason_when_the_deploy_fails(fs: FsNode, site_templates):
    override = site_templates / "freeswitch" / "directory.xml"
    override.parent.mkdir(parents=True)
    override.write_text("<include><domain name='{{ tenant.domain }}'></include>\n")
    environment._environment.cache_clear()  # the worker process caches compiled templates
    result = _invoke_while_a_worker_runs(fs, "deploy", fs.node().name, "--wait", "--timeout", "30")
    assert result.exit_code == 1
    assert "deploy #1: failed: validation failed: directory.xml: not well-formed XML" in result.output


def test_deploy_without_a_worker_times_out_with_a_hint(fs: FsNode):
    result = CliRunner().invoke(cli, ["deploy", fs.node().name, "--wait", "--timeout", "0.5"])
    assert result.exit_code == 2
    assert "still queued after 0 s: is `switchboard worker` running?" in result.output


def test_rollback_by_version_and_its_refusals(fs: FsNode):
    name = fs.node().name
    none_yet = CliRunner().invoke(cli, ["rollback", name])
    assert none_yet.exit_code == 1 and f"Node {name} has no live version" in none_yet.output
    assert fs.deploy().version == 1
    from control.services import users

    with db.unit_of_work() as s:
        user = users.find_user_by_extension(s, fs.tenant_id, "1002")
        users.update_user(s, fs.tenant_id, user.id, {"name": "Bob Rolled"}, None)
    assert fs.deploy().version == 2
    wrong = CliRunner().invoke(cli, ["rollback", name, "5"])
    assert wrong.exit_code == 1 and "Version 5 never went live" in wrong.output
    result = _invoke_while_a_worker_runs(fs, "rollback", name, "1", "--wait")
    assert result.exit_code == 0, result.output
    assert "rollback #3: success, version 1 is live" in result.output
    s = db.new_session()
    try:
        assert s.get(DeployRecord, 3).kind == "rollback"
    finally:
        s.close()
    assert fs.live() == "versions/1"
