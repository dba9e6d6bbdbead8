"""`switchboard listen`: what each node's listener is told."""

from __future__ import annotations

from control.db import unit_of_work
from control.services import nodes, queues, tenants
from tests.esl_handlers.wire_captures import capture_tenant
from web.cli import listener_configs


def test_a_freeswitch_listener_reads_its_tenants_queue_agents_at_resync(database_url) -> None:
    capture_tenant("fs-listen", domain="listen.example")  # queue support = 7000
    with unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": "Other", "domain": "other.listen.example"})
        queues.create_queue(s, tenant.id, {"name": "other", "extension": "7100", "members": []}, None)
        nodes.create_node(
            s,
            {"name": "ast-listen", "kind": "asterisk", "host": "127.0.0.1", "port": 5038, "tenant_id": tenant.id,
             "username": "switchboard", "secret": "a-long-secret", "config_dir": "/etc/asterisk"},
            None,
        )  # fmt: skip
    configs = {c.node: c for c in listener_configs(())}
    assert configs["fs-listen"].callcenter_queues == ("7000@listen.example",)
    assert configs["ast-listen"].callcenter_queues == ()
    assert [c.node for c in listener_configs(("ast-listen",))] == ["ast-listen"]
