"""The demo PBX of `make run`: the sandbox Asterisk (deploy/asterisk/sandbox) as the demo tenant's
node, wired by install.sh as an operator would, deployed through the ordinary deploy job.

Only root can build and start the sandbox (a Debian chroot); anyone else gets one line saying how
to turn it on, and the rest of `make run` goes on without a PBX.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from control.db import unit_of_work
from control.demo import DEMO_TENANT
from control.services import deploys, nodes, tenants

NODE_NAME = "demo-asterisk"
SANDBOX = Path(__file__).resolve().parents[1] / "deploy" / "asterisk" / "sandbox"
# The sandbox's fixed AMI account (deploy/asterisk/sandbox writes it into manager.conf).
AMI_USER = "switchboard"
AMI_SECRET = "sandbox-secret"
NOT_ROOT = "demo PBX off: run `make run` as root to start the sandbox Asterisk as the demo tenant's PBX node"


@dataclass(frozen=True)
class DemoPbx:
    node_name: str
    deploy_id: int
    sip_port: int


def sandbox(*args: str) -> str:
    done = subprocess.run(
        ["bash", str(SANDBOX), *args], capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"deploy/asterisk/sandbox {' '.join(args)}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout.strip()


def start_demo_pbx() -> DemoPbx:
    """Build (once) and start the sandbox, make it the demo tenant's node and request a deploy.

    The deploy record is returned for the caller to queue once its rq worker and Redis run.
    """
    sandbox("ensure")
    sandbox("start")
    root = Path(sandbox("path"))
    with unit_of_work() as session:
        tenant = tenants.find_tenant_by_name(session, DEMO_TENANT)
        if tenant is None:
            raise RuntimeError("no demo tenant: run `switchboard seed-demo` first")
        node = nodes.find_node_by_name(session, NODE_NAME)
        if node is None:
            node = nodes.create_node(
                session,
                {
                    "name": NODE_NAME,
                    "kind": "asterisk",
                    "host": "127.0.0.1",
                    "port": int(os.environ.get("SWITCHBOARD_SANDBOX_AMI_PORT", "5038")),
                    "username": AMI_USER,
                    "secret": AMI_SECRET,
                    "config_dir": str(root / "etc" / "asterisk"),
                    "transport": "local",
                    "tenant_id": tenant.id,
                },
                None,
            )
        record = deploys.request_deploy(session, node.id, None, source="cli")
        deploy_id = record.id
    return DemoPbx(NODE_NAME, deploy_id, int(os.environ.get("SWITCHBOARD_SANDBOX_SIP_PORT", "5060")))


def is_root() -> bool:
    return os.geteuid() == 0
