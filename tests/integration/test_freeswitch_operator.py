"""The operator's path on a real FreeSWITCH, as deploy/freeswitch/README.md walks it: the stock
configuration wired by install.sh (the sandbox does exactly that), a tenant and its node added
with `switchboard node add`, the first deploy with `switchboard deploy NODE --wait` verified and
live, phones registering as users of the tenant's SIP domain, queue 700 answering with hold music,
and nothing logged as an error along the way.

How the deployed model routes calls (extensions, ring groups, queues, a line's DID from the
trunk, a paused line) is test_deploy.py's, on both PBX kinds with the same model
(pbx_world.build_model). The sandbox is held exclusively and left with live -> versions/0.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.freeswitch_sandbox import XML_CURL_UNREACHABLE, FreeswitchSandbox
from tests.integration.pbx_sandbox import LogMark
from tests.integration.pbx_world import (
    TENANT,
    DeployWorld,
    Model,
    SippCalls,
    add_node_with_cli,
    build_model,
    cli_with_a_worker,
)
from tests.integration.sipp import Phone, SippSession
from tests.worker.rq_support import deploy_redis

pytestmark = pytest.mark.integration

# No control plane answers mod_xml_curl here: FreeSWITCH logs that and reads its static XML.
IGNORED = (XML_CURL_UNREACHABLE, "CURL returned error")


@dataclass
class World(DeployWorld, SippCalls):
    sandbox: FreeswitchSandbox
    model: Model
    phones_sipp: SippSession
    phones: dict[str, Phone] = field(default_factory=dict)
    started: LogMark | None = None


@pytest.fixture(scope="module")
def world(
    module_database_url: str,
    freeswitch_sandbox: FreeswitchSandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    sandbox = freeswitch_sandbox
    with sandbox.exclusive(), deploy_redis() as client:
        sandbox.reset()
        mark = sandbox.mark_log()
        model = build_model()
        node_id = add_node_with_cli(sandbox, TENANT)
        workdir = tmp_path_factory.mktemp("sipp")
        with (
            SippSession(
                workdir / "phones", sip_port=sandbox.sip_internal_port, domain=model.domain
            ) as phones,
        ):
            world = World(client, node_id, sandbox, model, phones, started=mark)
            try:
                yield world
            finally:
                phones.close()
                sandbox.reset()


def test_install_sh_left_the_stock_config_ready_for_switchboard(world: World, tmp_path: Path) -> None:
    conf = world.sandbox.config_dir
    assert world.sandbox.live_version() == 0
    assert (conf / "directory" / "switchboard.xml").exists()
    assert not (conf / "directory" / "default" / "1000.xml").exists(), "the demo users are moved aside"
    # The vanilla demo user 1000 with the well-known password 1234 cannot register any more (the
    # stock groups keep a pointer to it, which FreeSWITCH refuses to register).
    with SippSession(tmp_path, sip_port=world.sandbox.sip_internal_port) as stock_phone:
        assert stock_phone.register("1000", "1234", contact_port=9, expires=60) in (401, 403)
    for module in ("mod_callcenter", "mod_xml_curl"):
        assert world.sandbox.api(f"module_exists {module}").strip() == "true"


def test_first_deploy_is_verified_and_goes_live(world: World) -> None:
    mark = world.sandbox.mark_log()
    done = cli_with_a_worker(world.client, "deploy", "sandbox", "--wait", "--timeout", "90")
    assert done.exit_code == 0, done.output
    queued = re.search(r"deploy #(\d+) queued", done.output)
    assert queued, done.output
    assert f"deploy #{queued.group(1)}: success, version 1 is live" in done.output, done.output
    record = world.record(int(queued.group(1)))
    assert record.result == "success", record.error
    assert record.version == 1 and record.content_hash
    summary = record.diff_summary
    assert summary["previous_version"] == 0
    assert summary["parts"] == ["dialplan", "endpoints", "gateway", "queues"]
    # users, extensions (3 users, 2 groups, a queue, the outbound route, the line), the queue's tier
    assert summary["objects_checked"] >= 10, summary
    assert {"render", "validate", "write", "reload", "verify"} <= set(summary["timings"])
    assert world.model.secrets["1001"] not in record.diff_text, "SIP secrets never reach the recorded diff"
    node = world.node()
    assert (node.status, node.live_version, node.live_hash) == ("live", 1, record.content_hash)
    assert world.sandbox.live_version() == 1
    domain = world.model.domain
    assert world.sandbox.api(f"user_exists id 1001 {domain}").strip() == "true"
    assert "switchboard-group-600" in world.sandbox.api("xml_locate dialplan context name default")
    assert world.sandbox.queue_agents(f"700@{domain}") == {f"1001@{domain}"}, "1002's membership is inactive"
    assert world.sandbox.log_errors(since=mark, ignore=IGNORED) == []


def test_phones_register_as_users_of_the_tenant_domain(world: World) -> None:
    for ext in ("1001", "1002"):
        world.phones[ext] = world.phones_sipp.phone(ext, world.model.secrets[ext], answer_after=None)
    registered = world.sandbox.registrations()
    assert {f"1001@{world.model.domain}", f"1002@{world.model.domain}"} <= registered


def test_queue_700_offers_its_call_to_the_active_member_only(world: World) -> None:
    # mod_callcenter answers the caller (hold music) before it offers the call: the caller holds
    # the answered call for 4 s, then hangs up.
    started = time.time()
    call = world.phones_sipp.start_call("700", caller="1003", password=world.model.secrets["1003"], hold=4.0)
    world.phones["1001"].wait_for_invites(count=len(world.phones["1001"].invites()) + 1, timeout=4.0)
    result = call.wait()
    assert result.answered, result
    assert len(world.invites("1001", started)) >= 1
    assert world.invites("1002", started) == [], "1002's membership is inactive"


def test_freeswitch_logged_no_error_along_the_way(world: World) -> None:
    # Hold music included: a stock FreeSWITCH without music files logs an error every 20 ms of
    # a queue call (see deploy/freeswitch/README.md).
    assert world.sandbox.log_errors(since=world.started, ignore=IGNORED) == []
