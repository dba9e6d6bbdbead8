from __future__ import annotations

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
    "name": "pbx-1",
    "kind": "asterisk",
    "host": "10.0.0.5",
    "port": "5038",
    "username": "switchboard",
    "secret": "ami-secret-never-shown",
    "config_dir": "/etc/asterisk",
    "transport": "local",
}


@pytest.fixture()
def rq_redis() -> Iterator[redis.Redis]:
    with deploy_redis() as client:
        yield client


@pytest.fixture()
def node_id(demo) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return nodes.create_node(s, NODE | {"tenant_id": demo["tenant_id"]}, None).id


def _finished(node_id: int, version: int, content_hash: str) -> int:
    """A deploy that went live (as the worker records it)."""
    with db.unit_of_work() as s:
        node = s.get(PbxNode, node_id)
        record = deploys.request_deploy(s, node_id, None, source="cli")
        deploys.start(s, record, node)
        deploys.succeed(
            s,
            record,
            node,
            version=version,
            content_hash=content_hash,
            summary={
                "files": [{"path": "pjsip.d/1001.conf", "status": "changed", "added": 1, "removed": 1}],
                "parts": ["endpoints"],
            },
            diff_text="--- a/pjsip.d/1001.conf\n+++ b/pjsip.d/1001.conf\n@@ -1 +1 @@\n-password = ********\n+password = ********\n",
            detail=f"version {version} is live",
        )
        return record.id


def test_create_list_edit_and_remove_a_node_without_ever_showing_its_secret(admin_client, session, demo):
    response = admin_client.post("/nodes/new", data=NODE)
    assert response.status_code == 302
    node = session.scalar(select(PbxNode).where(PbxNode.name == "pbx-1"))
    assert node.tenant_id == demo["tenant_id"] and nodes.node_secret(node) == "ami-secret-never-shown"
    listing = admin_client.get("/nodes/?q=pbx").data.decode()
    assert "pbx-1" in listing and "ami-secret-never-shown" not in listing
    form = admin_client.get(f"/nodes/{node.id}/edit").data.decode()
    assert "ami-secret-never-shown" not in form and 'value="/etc/asterisk"' in form
    edited = admin_client.post(f"/nodes/{node.id}/edit", data=NODE | {"secret": "", "host": "10.0.0.6"})
    assert edited.status_code == 302
    session.expire_all()
    node = session.get(PbxNode, node.id)
    assert node.host == "10.0.0.6" and nodes.node_secret(node) == "ami-secret-never-shown"
    assert admin_client.get("/nodes/?kind=freeswitch").data.decode().count("pbx-1") == 0
    node_id = node.id
    assert admin_client.post(f"/nodes/{node_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(PbxNode, node_id) is None


def test_bad_node_input_is_shown_next_to_the_field_and_nothing_is_saved(admin_client, session):
    response = admin_client.post(
        "/nodes/new", data=NODE | {"name": "x" * 10_000, "config_dir": "relative/path", "secret": ""}
    )
    assert response.status_code == 400
    page = response.data.decode()
    assert "An absolute path on the PBX host, like /etc/asterisk." in page and 'id="secret-error"' in page
    assert session.scalar(select(PbxNode)) is None


def test_agents_get_403_on_every_node_page(agent_client, node_id):
    for url in ("/nodes/", f"/nodes/{node_id}", f"/nodes/{node_id}/edit", f"/nodes/{node_id}/sync"):
        assert agent_client.get(url).status_code == 403
    assert agent_client.post(f"/nodes/{node_id}/deploy").status_code == 403


def test_deploy_now_queues_one_record_and_one_job(admin_client, session, node_id, rq_redis):
    response = admin_client.post(f"/nodes/{node_id}/deploy", follow_redirects=True)
    assert response.status_code == 200
    record = session.scalar(select(DeployRecord).where(DeployRecord.node_id == node_id))
    assert record.result == "queued" and record.diff_summary["source"] == "admin"
    assert f"Deploy #{record.id} queued." in response.data.decode()
    assert Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).job_ids == [f"deploy-{record.id}"]
    # A second click while it waits joins the waiting deploy.
    admin_client.post(f"/nodes/{node_id}/deploy")
    assert session.scalars(select(DeployRecord).where(DeployRecord.node_id == node_id)).all() == [record]
    assert Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).count == 1
    page = admin_client.get(f"/nodes/{node_id}").data.decode()
    assert f'hx-get="/nodes/{node_id}/status"' in page and 'hx-trigger="every 1s"' in page
    jobs.set_progress(record.id, "reloading")
    with db.unit_of_work() as s:
        deploys.start(s, s.get(DeployRecord, record.id), s.get(PbxNode, node_id))
    fragment = admin_client.get(f"/nodes/{node_id}/status").data.decode()
    assert "running, reloading" in fragment and "<strong>reloading</strong>" in fragment


def test_history_diff_and_rollback(admin_client, session, node_id, rq_redis):
    first = _finished(node_id, 1, "a" * 64)
    second = _finished(node_id, 2, "b" * 64)
    page = admin_client.get(f"/nodes/{node_id}").data.decode()
    assert f'id="deploy-{first}"' in page and f'id="deploy-{second}"' in page
    assert '<option value="1">version 1 (the previous one)</option>' in page
    detail = admin_client.get(f"/nodes/deploys/{second}").data.decode()
    assert "pjsip.d/1001.conf" in detail and "-password = ********" in detail and "b" * 64 in detail

    refused = admin_client.post(f"/nodes/{node_id}/rollback", data={"version": "2"}, follow_redirects=True)
    assert "Version 2 is already live." in refused.data.decode()
    refused = admin_client.post(f"/nodes/{node_id}/rollback", data={"version": "7"}, follow_redirects=True)
    assert "Version 7 never went live" in refused.data.decode()
    assert admin_client.post(f"/nodes/{node_id}/rollback", data={}).status_code == 302
    rollback = session.scalar(select(DeployRecord).where(DeployRecord.kind == "rollback"))
    assert (rollback.version, rollback.result) == (1, "queued")
    assert f"deploy-{rollback.id}" in Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).job_ids
    assert session.scalar(select(AuditLog).where(AuditLog.action == "rollback.request")) is not None


def test_a_deploy_of_another_tenant_is_not_found(admin_client, session, node_id):
    record_id = _finished(node_id, 1, "c" * 64)
    with db.unit_of_work() as s:
        other = Tenant(name="other", domain="other.example")
        s.add(other)
        s.flush()
        s.get(PbxNode, node_id).tenant_id = other.id
    assert admin_client.get(f"/nodes/deploys/{record_id}").status_code == 404
    assert admin_client.get(f"/nodes/{node_id}").status_code == 404
    assert admin_client.post(f"/nodes/{node_id}/deploy").status_code == 404


def test_sync_state_compares_the_live_hash_with_the_model(admin_client, session, node_id):
    assert "differs from the model" in admin_client.get(f"/nodes/{node_id}/sync").data.decode()
    node = session.get(PbxNode, node_id)
    model_hash = deploys.render_for(session, node).content_hash
    _finished(node_id, 1, model_hash)
    assert "matches the model" in admin_client.get(f"/nodes/{node_id}/sync").data.decode()


def test_turning_automatic_apply_off_and_on_applies_what_was_pending(
    admin_client, session, demo, node_id, rq_redis
):
    jobs.register_apply_handlers()
    try:
        admin_client.post("/nodes/auto-apply", data={})
        session.expire_all()
        assert session.get(Tenant, demo["tenant_id"]).auto_apply is False
        admin_client.post("/teams/new", data={"name": "Imported"})
        assert jobs.pending_apply(demo["tenant_id"], rq_redis) == (set(), None)
        assert "Turn on and apply now" in admin_client.get("/nodes/").data.decode()

        admin_client.post("/nodes/auto-apply", data={"enabled": "on"})
        session.expire_all()
        assert session.get(Tenant, demo["tenant_id"]).auto_apply is True
        parts, due = jobs.pending_apply(demo["tenant_id"], rq_redis)
        assert parts == {"endpoints", "dialplan", "queues"} and due is not None
        assert [
            j.startswith(f"apply-{demo['tenant_id']}-")
            for j in Queue(jobs.DEPLOY_QUEUE, connection=rq_redis).job_ids
        ] == [True]
        assert "Waiting to apply: dialplan, endpoints, queues" in admin_client.get("/nodes/").data.decode()
    finally:
        effects.clear_handlers()
    actions = session.scalars(select(AuditLog.action).where(AuditLog.action == "tenant.auto_apply")).all()
    assert len(actions) == 2
