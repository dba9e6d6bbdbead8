"""An operator's first install, the way deploy/asterisk/README.md tells it, on the sandbox's
Asterisk: the stock Debian files, the README's install.sh command, a restart, a deploy through
Switchboard's own deploy job; then phones register over the transports install.sh added and call.

The files install.sh wires (manager.conf, pjsip.conf, extensions.conf, queues.conf) start as the
package shipped them and switchboard/ does not exist; the rest of etc/asterisk is the sandbox's
lean base (modules, logging, RTP ports), which stands for whatever else the host has. The sandbox
is held exclusively, and restarted on its own configuration at the end.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from control import db, jobs
from control.models import DeployRecord
from control.services import deploys, nodes, tenants, users
from tests.integration.asterisk_sandbox import REPO, AsteriskSandbox
from tests.integration.sipp import SippSession
from tests.worker.rq_support import deploy_redis, drain

pytestmark = pytest.mark.integration

README = REPO / "deploy" / "asterisk" / "README.md"
WIRED = ("manager.conf", "pjsip.conf", "extensions.conf", "queues.conf")
AMI_SECRET = "operator-ami-secret-7"
RESTART = "systemctl restart asterisk"


def readme_install_steps() -> tuple[str, str]:
    """The README's install command (continuation lines joined) and the line that follows it."""
    text = README.read_text()
    section = text.split("## What the operator does", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README.md: no sh block under 'What the operator does'"
    command, after = block.group(1).replace("\\\n", " ").strip().split("\n")
    return " ".join(command.split()), after.strip()


def on_the_sandbox(command: str, sandbox: AsteriskSandbox) -> str:
    """The README's command with the sandbox's directory, ports and this script's path."""
    replacements = {
        "deploy/asterisk/install.sh /etc/asterisk ": f"{REPO}/deploy/asterisk/install.sh {sandbox.config_dir} ",
        "--ami-port 5038 ": f"--ami-port {sandbox.ami_port} ",
        "--ami-permit 10.0.0.5/255.255.255.255 ": "--ami-permit 127.0.0.1/255.255.255.255 ",
        "--sip-bind 0.0.0.0:5060": f"--sip-bind {sandbox.sip_host}:{sandbox.sip_port}",
    }
    for readme, here in replacements.items():
        assert readme in command + " ", f"README.md's install command lost {readme.strip()!r}: {command}"
        command = (command + " ").replace(readme, here).strip()
    return command


def stock_host(sandbox: AsteriskSandbox) -> None:
    """The wired files as the package shipped them, and no switchboard/ folder."""
    owner = sandbox.config_dir.stat()
    shutil.rmtree(sandbox.switchboard_dir, ignore_errors=True)
    for name in (*WIRED, "manager.d"):
        target = sandbox.config_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        source = sandbox.stock_dir / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        for path in (target, *(target.rglob("*") if target.is_dir() else ())):
            shutil.chown(path, owner.st_uid, owner.st_gid)


@dataclass
class Operated:
    sandbox: AsteriskSandbox
    client: redis.Redis
    install_output: str
    node_id: int
    secrets: dict[str, str]

    def deploy(self) -> DeployRecord:
        with db.unit_of_work() as s:
            record_id = deploys.request_deploy(s, self.node_id, None, source="cli").id
        jobs.start_deploy_job(record_id)
        drain(self.client)
        s = db.new_session()
        try:
            return s.get(DeployRecord, record_id)
        finally:
            s.close()


@pytest.fixture(scope="module")
def operated(module_database_url: str, asterisk_sandbox: AsteriskSandbox) -> Iterator[Operated]:
    sandbox = asterisk_sandbox
    command, after = readme_install_steps()
    assert after == RESTART, f"README.md: after install.sh comes {after!r}"
    with sandbox.exclusive(), deploy_redis() as client:
        try:
            sandbox.stop()
            stock_host(sandbox)
            installed = subprocess.run(
                ["bash", "-c", on_the_sandbox(command, sandbox)],
                env={"AMI_SECRET": AMI_SECRET, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert installed.returncode == 0, installed.stderr
            sandbox.mark_log()
            sandbox.start(keep_config=True)  # systemctl restart asterisk
            with db.unit_of_work() as s:
                # No trunk: nothing is matched by address, so Asterisk's default identifier
                # order finds the phones by user name on this stock pjsip.conf.
                tenant = tenants.create_tenant(
                    s, {"name": "operator", "domain": f"op-{uuid.uuid4().hex[:8]}.switchboard.test"}
                )
                secrets = {}
                for ext, name in (("2001", "Olga"), ("2002", "Piet")):
                    user = users.create_user(
                        s, tenant.id, {"name": name, "email": f"{ext}@op.example", "extension": ext}, None
                    )
                    secrets[ext] = users.sip_secret(s, tenant.id, user.id, None)
                node_id = nodes.create_node(
                    s,
                    {
                        "name": "stock-asterisk",
                        "kind": "asterisk",
                        "host": sandbox.ami_host,
                        "port": sandbox.ami_port,
                        "username": "switchboard",
                        "secret": AMI_SECRET,
                        "config_dir": str(sandbox.config_dir),
                        "tenant_id": tenant.id,
                    },
                    None,
                ).id
            yield Operated(sandbox, client, installed.stdout, node_id, secrets)
        finally:
            sandbox.restart()
            sandbox.reset()


def test_install_wires_the_stock_host_with_the_transports_the_readme_names(operated: Operated) -> None:
    sandbox = operated.sandbox
    bind = f"{sandbox.sip_host}:{sandbox.sip_port}"
    assert operated.install_output.splitlines() == [
        f"manager.conf (AMI on 127.0.0.1:{sandbox.ami_port}, user switchboard): changed",
        f"pjsip.conf transports (udp and tcp on {bind}): changed",
        "pjsip.conf include: changed",
        "extensions.conf include: changed",
        "queues.conf include: changed",
        "switchboard/ layout: changed",
    ]
    assert AMI_SECRET not in operated.install_output
    transports = sandbox.cli("pjsip show transports")
    for protocol in ("udp", "tcp"):
        assert re.search(
            rf"switchboard-transport-{protocol}\s+{protocol}\s.*\s{re.escape(bind)}\b", transports
        )
    # Asterisk's own default: the stock host has no [global] of its own.
    assert re.search(
        r"endpoint_identifier_order\s*:\s*ip,username,anonymous", sandbox.cli("pjsip show settings")
    )
    assert sandbox.log_errors() == []


def test_a_deploy_then_registered_phones_call_each_other(operated: Operated, tmp_path: Path) -> None:
    sandbox = operated.sandbox
    mark = sandbox.mark_log()
    record = operated.deploy()
    assert record.result == "success", record.error
    assert record.version == 1 and sandbox.live_version() == 1
    endpoints = sandbox.cli("pjsip show endpoints")
    assert "2001" in endpoints and "2002" in endpoints

    with SippSession(tmp_path / "sipp", sip_host=sandbox.sip_host, sip_port=sandbox.sip_port) as sipp:
        sipp.phone("2001", operated.secrets["2001"])
        callee = sipp.phone("2002", operated.secrets["2002"], answer_after=0.5)
        contacts = sandbox.cli("pjsip show contacts")
        assert f"2002/sip:2002@127.0.0.1:{callee.port}" in contacts
        assert "2001/sip:2001@127.0.0.1:" in contacts

        result = sipp.call("2002", caller="2001", password=operated.secrets["2001"], hold=1.0)

        assert result.outcome == "answered" and result.final_code == 200, result
        assert len(callee.invites()) == 1
        # The caller's BYE reaches the callee through Asterisk a moment after the caller is done.
        deadline = time.monotonic() + 5
        while len(callee.events()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [event.kind for event in callee.events()] == ["INVITE", "ANSWER", "BYE"]
    assert sandbox.log_errors(since=mark) == []


def test_the_tcp_transport_answers_sip(operated: Operated) -> None:
    sandbox = operated.sandbox
    with socket.create_connection((sandbox.sip_host, sandbox.sip_port), timeout=5) as tcp:
        local_host, local_port = tcp.getsockname()
        target = f"sip:{sandbox.sip_host}:{sandbox.sip_port};transport=tcp"
        request = (
            f"OPTIONS {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP {local_host}:{local_port};branch=z9hG4bK-{uuid.uuid4().hex}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{local_host}>;tag={uuid.uuid4().hex[:10]}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}@{local_host}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            f"Contact: <sip:probe@{local_host}:{local_port};transport=tcp>\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        tcp.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tcp.recv(4096)
            assert chunk, f"Asterisk closed the TCP connection; got {answer!r}"
            answer += chunk
    assert re.match(rb"SIP/2\.0 \d{3} ", answer), answer
    assert b"CSeq: 1 OPTIONS" in answer
