from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from control import db, effects, jobs
from control.models import AuditLog, DeployRecord, PbxNode, Tenant
from control.services import deploys, nodes
from tests.worker.rq_support import deploy_redis

NODE = {
    "name": "pbx-api",
    "kind": "asterisk",
    "host": "10.0.0.9",
    "username": "switchboard",
    "secret": "ami-secret-api",
    "config_dir": "/etc/asterisk",
}


@pytest.fixture()
def rq_redis() -> Iterator[redis.Redis]:
    with deploy_redis() as client:
        yield client


@pytest.fixture()
def node_id(demo) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return nodes.create_node(s, NODE | {"tenant_id": demo["tenant_id"]}, None).id


def _went_live(node_id: int, version: int) -> int:
    with db.unit_of_work() as s:
        node = s.get(PbxNode, node_id)
        record = deploys.request_deploy(s, node_id, None, source="cli")
        deploys.start(s, record, node)
        deploys.succeed(
            s,
            record,
            node,
            version=version,
            content_hash=f"{version:064d}",
            summary={
                "parts": ["endpoints"],
                "files": [{"path": "pjsip.conf", "status": "changed", "added": 1, "removed": 1}],
            },
            diff_text="--- a/pjsip.conf\n+++ b/pjsip.conf\n@@ -1 +1 @@\n-password = ********\n+password = ********\n",
            detail="",
        )
        return record.id


def test_deploy_is_queued_with_a_location_to_poll(api, session, demo, node_id, rq_redis):
    response = api.post(f"/api/v1/nodes/{node_id}/deploy")
    assert response.status_code == 202, response.json
    body = response.json
    assert body["result"] == "queued" and body["kind"] == "deploy" and body["node_id"] == node_id
    assert body["summary"]["source"] == "api" and body["actor_id"] == demo["admin_id"]
    assert response.headers["Location"].endswith(f"/api/v1/deploys/{body['id']}")
    assert Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).job_ids == [f"deploy-{body['id']}"]
    shown = api.get(f"/api/v1/deploys/{body['id']}")
    assert shown.status_code == 200 and shown.json["result"] == "queued"
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "deploy.request"))
    assert entry.actor_id == demo["admin_id"] and entry.detail["record_id"] == body["id"]


def test_history_detail_and_rollback(api, node_id, rq_redis):
    _went_live(node_id, 1)
    second = _went_live(node_id, 2)
    page = api.get(f"/api/v1/nodes/{node_id}/deploys?per_page=1").json
    assert page["total"] == 2 and [item["id"] for item in page["items"]] == [second]
    detail = api.get(f"/api/v1/deploys/{second}").json
    assert detail["version"] == 2 and "-password = ********" in detail["diff"]
    assert detail["summary"]["files"] == [
        {"path": "pjsip.conf", "status": "changed", "added": 1, "removed": 1}
    ]
    assert api.get(f"/api/v1/nodes/{node_id}/deploys?result=success").json["total"] == 2
    assert api.get(f"/api/v1/nodes/{node_id}/deploys?sort=nope").status_code == 422

    refused = api.post(f"/api/v1/nodes/{node_id}/rollback", json={"version": 9})
    assert refused.status_code == 422
    assert refused.json["errors"]["version"] == ["Version 9 never went live on pbx-api; choose one of: 1"]
    assert api.post(f"/api/v1/nodes/{node_id}/rollback", json={"version": "two"}).status_code == 422
    rolled = api.post(f"/api/v1/nodes/{node_id}/rollback", json={})
    assert rolled.status_code == 202
    assert (rolled.json["kind"], rolled.json["version"], rolled.json["result"]) == ("rollback", 1, "queued")


def test_rollback_without_an_earlier_version_is_a_conflict(api, node_id, rq_redis):
    assert api.post(f"/api/v1/nodes/{node_id}/rollback").status_code == 409
    _went_live(node_id, 1)
    response = api.post(f"/api/v1/nodes/{node_id}/rollback")
    assert response.status_code == 409
    assert response.json["message"] == "Node pbx-api has no earlier version to roll back to."


def test_agents_and_other_tenants_are_kept_out(api, agent_api, node_id, rq_redis):
    assert agent_api.post(f"/api/v1/nodes/{node_id}/deploy").status_code == 403
    assert agent_api.get("/api/v1/apply").status_code == 403
    record_id = _went_live(node_id, 1)
    with db.unit_of_work() as s:
        other = Tenant(name="elsewhere", domain="elsewhere.example")
        s.add(other)
        s.flush()
        s.get(PbxNode, node_id).tenant_id = other.id
    assert api.post(f"/api/v1/nodes/{node_id}/deploy").status_code == 404
    assert api.get(f"/api/v1/deploys/{record_id}").status_code == 404
    assert api.get(f"/api/v1/nodes/{node_id}/deploys").status_code == 404
    assert api.get("/api/v1/deploys/99999999999").status_code == 404


def test_sync_tells_whether_the_live_config_is_the_model(api, session, node_id):
    assert api.get(f"/api/v1/nodes/{node_id}/sync").json["matches"] is False
    node = session.get(PbxNode, node_id)
    rendered = deploys.render_for(session, node)
    with db.unit_of_work() as s:
        s.get(PbxNode, node_id).live_hash = rendered.content_hash
    body = api.get(f"/api/v1/nodes/{node_id}/sync").json
    assert body == {
        "matches": True,
        "model_hash": rendered.content_hash,
        "live_hash": rendered.content_hash,
        "error": "",
    }


def test_the_automatic_apply_switch(api, session, demo, node_id, rq_redis):
    jobs.register_apply_handlers()
    try:
        assert api.get("/api/v1/apply").json == {"auto_apply": True, "pending": []}
        off = api.put("/api/v1/apply", json={"auto_apply": False})
        assert off.status_code == 200 and off.json == {"auto_apply": False, "pending": []}
        assert api.post("/api/v1/teams", json={"name": "Bulk"}).status_code == 201
        assert Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).count == 0
        on = api.put("/api/v1/apply", json={"auto_apply": True})
        assert on.json == {"auto_apply": True, "pending": ["dialplan", "endpoints", "queues"]}
        assert Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).count == 1
    finally:
        effects.clear_handlers()
    assert api.put("/api/v1/apply", json={}).status_code == 422
    assert api.put("/api/v1/apply", json={"auto_apply": True, "extra": 1}).status_code == 422
    assert session.get(Tenant, demo["tenant_id"]).auto_apply is True


def test_a_job_queue_that_is_down_answers_503_and_fails_the_record(api, session, node_id, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    response = api.post(f"/api/v1/nodes/{node_id}/deploy")
    assert response.status_code == 503 and "not queued" in response.json["message"]
    record = session.scalar(select(DeployRecord))
    assert record.result == "failed" and record.error.startswith("could not queue the job")
