"""One deploy scenario, either PBX kind: the model built through the services as an admin would,
the node pointing at a sandbox, and the real deploy job run by an rq worker.

The model (`build_model`): users 1001-1003 of one tenant, ring groups 600 (parallel, 20 s) and
601 (sequential, 3 s per member), queue 700 (1001 active, 1002 inactive), a line whose number
LINE_NUMBER goes to 601, a trunk at 127.0.0.1:5999. `sandbox_node` is the node data for an
`AsteriskSandbox` (AMI) or a `FreeswitchSandbox` (ESL); `DeployWorld` runs deploys and reads
their records. The PBX-specific part of a scenario is the sandbox and the phones' registration.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from control import db, jobs
from control.models import DeployRecord, PbxNode
from control.services import deploys, lines, nodes, numbers, queues, ring_groups, tenants, users
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.freeswitch_sandbox import FreeswitchSandbox
from tests.worker.rq_support import drain

LINE_NUMBER = "+12125550147"
EXTENSIONS = ("1001", "1002", "1003")


@dataclass(frozen=True)
class Model:
    tenant_id: int
    domain: str
    ids: dict[str, int]
    secrets: dict[str, str]


def build_model(name: str = "deploy-calls", domain: str = "calls.switchboard.test") -> Model:
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
