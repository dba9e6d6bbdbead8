"""The change log of committed model edits and the worker's incremental renders built on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import select

from control import db, effects, jobs, model_changes
from control.models import PbxNode, QueueMember, RingGroup, User
from control.render import render_tenant
from control.services import deploys, nodes, queues, ring_groups, users
from tests.worker.rq_support import deploy_redis
from worker import render_cache


@pytest.fixture()
def log(demo) -> Iterator[redis.Redis]:  # type: ignore[no-untyped-def]
    with deploy_redis() as client:
        with db.unit_of_work() as s:
            nodes.create_node(
                s,
                {
                    "name": "cache-node",
                    "kind": "asterisk",
                    "host": "127.0.0.1",
                    "username": "switchboard",
                    "secret": "x" * 10,
                    "config_dir": "/etc/asterisk",
                    "tenant_id": demo["tenant_id"],
                },
                None,
            )
        jobs.register_apply_handlers()
        render_cache.forget()
        try:
            yield client
        finally:
            effects.clear_handlers()
            render_cache.forget()


def _ids(tenant_id: int) -> dict[str, int]:
    s = db.new_session()
    try:
        found = {u.extension: u.id for u in s.scalars(select(User).where(User.tenant_id == tenant_id))}
        found["600"] = s.scalar(select(RingGroup.id).where(RingGroup.extension == "600"))
        found["601"] = s.scalar(select(RingGroup.id).where(RingGroup.extension == "601"))
        found["700"] = s.scalar(select(QueueMember.queue_id))
        return found
    finally:
        s.close()


def test_committed_edits_are_logged_by_row_and_rolled_back_ones_are_not(demo, log):
    tenant_id = demo["tenant_id"]
    ids = _ids(tenant_id)
    log_id, start = model_changes.generation()
    with db.unit_of_work() as s:
        users.update_user(s, tenant_id, ids["1001"], {"name": "Alice Logged"}, None)
        queues.set_membership_active(s, tenant_id, ids["700"], ids["1003"], True, None)
    with db.unit_of_work() as s:
        group = ring_groups.get_ring_group(s, tenant_id, ids["600"])
        data = {"members": [{"kind": "user", "target": ids["1004"], "timeout": 10}]}
        ring_groups.update_ring_group(s, tenant_id, group.id, data, None)
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        users.update_user(s, tenant_id, ids["1002"], {"name": "Never"}, None)
        raise RuntimeError("rolled back")
    since = model_changes.since(log_id, start)
    assert since is not None
    assert since.rows["users"] == {ids["1001"]}
    assert since.rows["queues"] == {ids["700"]}
    assert since.rows["groups"] == {ids["600"]}
    assert since.tenants == frozenset()
    assert model_changes.generation()[1] == start + 2


def test_deleting_what_the_database_cascades_logs_the_whole_tenant(demo, log):
    tenant_id = demo["tenant_id"]
    log_id, start = model_changes.generation()
    with db.unit_of_work() as s:
        ring_groups.delete_ring_group(s, tenant_id, _ids(tenant_id)["601"], None)
    since = model_changes.since(log_id, start)
    # The group itself, and the fallbacks the service cleared with a bulk UPDATE.
    assert since is not None and since.tenants == {tenant_id, model_changes.EVERY_TENANT}


def test_another_log_or_a_trimmed_one_cannot_say_what_changed(demo, log, monkeypatch):
    log_id, start = model_changes.generation()
    assert model_changes.since("another-log", start) is None
    monkeypatch.setattr(model_changes, "LOG_LENGTH", 2)
    for name in ("a", "b", "c", "d"):
        with db.unit_of_work() as s:
            users.update_user(
                s, demo["tenant_id"], _ids(demo["tenant_id"])["1005"], {"name": f"Erin {name}"}, None
            )
    assert model_changes.since(log_id, start) is None, "entries after `start` were trimmed"
    assert model_changes.since(log_id, start + 2) is not None


def test_the_incremental_render_follows_service_edits_exactly(demo, log):
    tenant_id = demo["tenant_id"]
    ids = _ids(tenant_id)
    s = db.new_session()
    node = s.scalar(select(PbxNode))
    s.close()
    session = db.new_session()
    try:
        first = render_cache.current(session, node, incremental=True)
    finally:
        session.close()
    edits = [
        lambda s: users.update_user(
            s, tenant_id, ids["1002"], {"name": "Bob Incremental", "dnd": True}, None
        ),
        lambda s: queues.set_membership_active(s, tenant_id, ids["700"], ids["1001"], False, None),
        lambda s: users.create_user(
            s, tenant_id, {"name": "Newbie", "email": "n@acme.example", "extension": "1099"}, None
        ),
        lambda s: ring_groups.delete_ring_group(s, tenant_id, ids["601"], None),
    ]
    for edit in edits:
        with db.unit_of_work() as s:
            edit(s)
        session = db.new_session()
        try:
            incremental = render_cache.current(session, node, incremental=True)
            full = render_tenant(session, tenant_id, "asterisk", options=deploys.render_options(node))
        finally:
            session.close()
        assert incremental.content_hash == full.content_hash
        assert incremental.content_hash != first.content_hash
