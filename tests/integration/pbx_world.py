"""One deploy scenario, either PBX kind: the model built through the services as an admin would,
the node pointing at a sandbox, and the real deploy job run by an rq worker.

The model (`build_model`): users 1001-1003 of one tenant, ring groups 600 (parallel, 20 s) and
601 (sequential, 3 s per member), queue 700 (1001 active, 1002 inactive), a line whose number
LINE_NUMBER goes to 601, a trunk at 127.0.0.1:5999. `sandbox_node` is the node data for an
`AsteriskSandbox` (AMI) or a `FreeswitchSandbox` (ESL), `add_node_with_cli` and
`cli_with_a_worker` the operator's `switchboard node add` and `switchboard deploy NODE --wait`;
`DeployWorld` runs deploys through the services and reads their records. The PBX-specific part of a scenario is the sandbox and the phones' registration.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis
from click.testing import CliRunner, Result
from rq import Queue
from sqlalchemy import select

from control import db, jobs
from control.models import DeployRecord, PbxNode
from control.services import deploys, lines, nodes, numbers, queues, ring_groups, tenants, users
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.freeswitch_sandbox import FreeswitchSandbox
from tests.integration.pbx_kinds import Pbx
from tests.integration.sipp import CallResult, Phone, SippSession
from tests.worker.rq_support import deploy_redis, drain
from web.cli import cli

LINE_NUMBER = "+12125550147"
EXTENSIONS = ("1001", "1002", "1003")
TENANT = "deploy-calls"


@dataclass(frozen=True)
class Model:
    tenant_id: int
    domain: str
    ids: dict[str, int]
    secrets: dict[str, str]


def build_model(name: str = TENANT, domain: str = "calls.switchboard.test") -> Model:
    """The scenario's model, built through the services like the admin would."""
    with db.unit_of_work() as s:
        tenant = tenants.create_tenant(
            s, {"name": name, "domain": domain, "trunk_host": "127.0.0.1", "trunk_port": 5999}
        )
        ids: dict[str, int] = {"tenant": tenant.id}
        for ext, person in zip(EXTENSIONS, ("Ann", "Ben", "Cat"), strict=True):
            ids[ext] = users.create_user(
                s, tenant.id, {"name": person, "email": f"{ext}@{name}.example", "extension": ext}, None
            ).id
        for ext, label, strategy, member_timeout in (
            ("600", "Both", "parallel", 20),
            ("601", "Hunt", "sequential", 3),
        ):
            ids[ext] = ring_groups.create_ring_group(
                s,
                tenant.id,
                {
                    "name": label,
                    "extension": ext,
                    "strategy": strategy,
                    "timeout": 20,
                    "members": [
                        {"kind": "user", "target": ids["1001"], "timeout": member_timeout},
                        {"kind": "user", "target": ids["1002"], "timeout": member_timeout},
                    ],
                },
                None,
            ).id
        ids["700"] = queues.create_queue(
            s,
            tenant.id,
            {
                "name": "Help",
                "extension": "700",
                "strategy": "ring_all",
                "members": [
                    {"user_id": ids["1001"], "active": True},
                    {"user_id": ids["1002"], "active": False},
                ],
            },
            None,
        ).id
        number = numbers.create_number(s, tenant.id, {"number": LINE_NUMBER}, None)
        ids["line"] = lines.create_line(
            s,
            tenant.id,
            {
                "name": "Sales",
                "destination_kind": "ring_group",
                "destination_target": ids["601"],
                "number_ids": [number.id],
            },
            None,
        ).id
        secrets = {ext: users.sip_secret(s, tenant.id, ids[ext], None) for ext in EXTENSIONS}
    return Model(tenant.id, domain, ids, secrets)


def sandbox_node(sandbox: AsteriskSandbox | FreeswitchSandbox, tenant_id: int, name: str = "sandbox") -> dict:
    """The node an operator would enter for this sandbox: its control connection and conf dir."""
    if isinstance(sandbox, FreeswitchSandbox):
        kind, host, port, user, secret = (
            "freeswitch",
            sandbox.esl_host,
            sandbox.esl_port,
            "",
            sandbox.esl_password,
        )
    else:
        kind, host, port, user, secret = (
            "asterisk",
            sandbox.ami_host,
            sandbox.ami_port,
            sandbox.ami_user,
            sandbox.ami_secret,
        )
    return {
        "name": name,
        "kind": kind,
        "host": host,
        "port": port,
        "username": user,
        "secret": secret,
        "config_dir": str(sandbox.config_dir),
        "tenant_id": tenant_id,
    }


def create_node(sandbox: AsteriskSandbox | FreeswitchSandbox, tenant_id: int) -> int:
    with db.unit_of_work() as s:
        return nodes.create_node(s, sandbox_node(sandbox, tenant_id), None).id


def add_node_with_cli(
    sandbox: AsteriskSandbox | FreeswitchSandbox, tenant: str, name: str = "sandbox"
) -> int:
    """`switchboard node add` as the operator types it (the secret from the environment)."""
    data = sandbox_node(sandbox, 0, name)
    args = ["node", "add", name, "--kind", data["kind"], "--host", data["host"], "--port", str(data["port"])]
    args += ["--config-dir", data["config_dir"], "--tenant", tenant]
    if data["username"]:
        args += ["--user", data["username"]]
    result = CliRunner().invoke(
        cli, args, env={"SWITCHBOARD_NODE_SECRET": data["secret"]}, catch_exceptions=False
    )
    if result.exit_code != 0:
        raise AssertionError(f"switchboard {' '.join(args)} failed: {result.output}")
    s = db.new_session()
    try:
        return s.scalars(select(PbxNode.id).where(PbxNode.name == name)).one()
    finally:
        s.close()


def cli_with_a_worker(client: redis.Redis, *args: str, timeout: float = 120.0) -> Result:
    """A `switchboard` command that waits on a deploy (`deploy NODE --wait`): the command runs in
    a thread, the rq worker here."""
    done: list[Result] = []
    thread = threading.Thread(
        target=lambda: done.append(CliRunner().invoke(cli, list(args), catch_exceptions=False))
    )
    thread.start()
    queue = Queue(jobs.DEPLOY_QUEUE, connection=client)
    deadline = time.monotonic() + 20
    while queue.count == 0 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    drain(client)
    thread.join(timeout=timeout)
    if not done:
        raise AssertionError(f"switchboard {' '.join(args)} did not return within {timeout:.0f} s")
    return done[0]


@dataclass
class DeployWorld:
    """Deploys of one node through the real job (rq worker drained in this process)."""

    client: redis.Redis
    node_id: int

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


W = TypeVar("W", bound=DeployWorld)


@contextmanager
def deploy_scenario(
    make: Callable[[redis.Redis, int, Pbx, Model, SippSession, SippSession], W], pbx: Pbx, workdir: Path
) -> Iterator[W]:
    """A module's deploy scenario on one PBX kind: the sandbox held exclusively and reset before
    and after, the model built, its node created, the phones' and the carrier's sipp sessions."""
    sandbox = pbx.sandbox
    with sandbox.exclusive(), deploy_redis() as client:
        sandbox.reset()
        model = build_model()
        node_id = create_node(sandbox, model.tenant_id)
        with (
            pbx.phones(workdir / "phones", model.domain) as sipp,
            pbx.outside(workdir / "outside") as outside,
        ):
            try:
                yield make(client, node_id, pbx, model, sipp, outside)
            finally:
                sipp.close()
                outside.close()
                sandbox.reset()


class SippCalls:
    """Calls of a scenario's world on the phones' sipp session: 1003 (digest-authenticated in the
    tenant's domain) calls, and the INVITEs a registered phone got. The world (a dataclass) has
    `model`, `phones_sipp` and `phones` (extension -> Phone)."""

    model: Model
    phones_sipp: SippSession
    phones: dict[str, Phone]

    def call(self, number: str, **kwargs: Any) -> CallResult:
        return self.phones_sipp.call(number, caller="1003", password=self.model.secrets["1003"], **kwargs)

    def invites(self, extension: str, since: float) -> list[float]:
        return [at for at in self.phones[extension].invites() if at >= since]


def group_600_rings_both_at_once(world: SippCalls) -> None:
    """Ring group 600 (parallel): 1003's call rings 1001 and 1002 once each, within 0.5 s."""
    started = time.time()
    result = world.call("600", cancel_after=2.0, timeout=20)
    assert result.outcome == "cancelled", result
    first, second = world.invites("1001", started), world.invites("1002", started)
    assert len(first) == 1 and len(second) == 1, (first, second)
    assert abs(first[0] - second[0]) < 0.5, (first, second)
