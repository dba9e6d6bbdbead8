"""Fixtures of the deploy tests: a FreeSWITCH node (the stand-in behind the fake event socket)
with its config directory, on the deploy tests' own Redis database; site template overrides."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from control import config, db, jobs
from control.models import DeployRecord, PbxNode
from control.render import environment
from control.services import deploys, nodes
from tests.fakes.esl_server import FakeEslServer
from tests.worker.freeswitch_sim import FreeswitchSim
from tests.worker.rq_support import deploy_redis, drain


@dataclass
class FsNode:
    node_id: int
    tenant_id: int
    conf_dir: Path
    sim: FreeswitchSim
    client: redis.Redis

    def deploy(self) -> DeployRecord:
        with db.unit_of_work() as s:
            record_id = deploys.request_deploy(s, self.node_id, None, source="cli").id
        jobs.start_deploy_job(record_id)
        drain(self.client)
        return record(record_id)

    def node(self) -> PbxNode:
        s = db.new_session()
        try:
            return s.get(PbxNode, self.node_id)
        finally:
            s.close()

    def live(self) -> str:
        return os.readlink(self.conf_dir / "switchboard" / "live")

    def versions(self) -> list[str]:
        return sorted((p.name for p in (self.conf_dir / "switchboard" / "versions").iterdir()), key=int)


def record(record_id: int) -> DeployRecord:
    s = db.new_session()
    try:
        return s.get(DeployRecord, record_id)
    finally:
        s.close()


def _layout(conf_dir: Path) -> None:
    """What the FreeSWITCH installer leaves: an empty versions/0, live -> versions/0."""
    (conf_dir / "switchboard" / "versions" / "0").mkdir(parents=True)
    (conf_dir / "switchboard" / "live").symlink_to("versions/0")


@contextmanager
def freeswitch_node(tenant_id: int, conf_dir: Path, **overrides: object) -> Iterator[FsNode]:
    """A FreeSWITCH node of the tenant: the stand-in behind a fake event socket, and its files."""
    _layout(conf_dir)
    sim = FreeswitchSim(conf_dir)
    with deploy_redis() as client, FakeEslServer(api_replies=sim, password="esl-pass") as server:
        host, port = server.address
        data = {
            "name": "fs-1",
            "kind": "freeswitch",
            "host": host,
            "port": port,
            "secret": "esl-pass",
            "config_dir": str(conf_dir),
            "tenant_id": tenant_id,
        }
        with db.unit_of_work() as s:
            node_id = nodes.create_node(s, data | overrides, None).id
        yield FsNode(node_id, tenant_id, conf_dir, sim, client)


@pytest.fixture()
def fs(demo, tmp_path: Path) -> Iterator[FsNode]:  # type: ignore[no-untyped-def]
    with freeswitch_node(demo["tenant_id"], tmp_path / "freeswitch") as node:
        yield node


@pytest.fixture()
def site_templates() -> Iterator[Path]:
    """The site-override template folder, emptied afterwards."""
    root = config.settings().data_dir / "templates"
    environment._environment.cache_clear()
    yield root
    shutil.rmtree(root, ignore_errors=True)
    environment._environment.cache_clear()
