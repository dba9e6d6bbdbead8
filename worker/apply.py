"""The automatic apply job: close a tenant's apply window and queue one deploy per node.

Enqueued by control.jobs.request_apply when the first model change of a window is committed.
It waits until the window closes (2 s after that change), takes every part recorded meanwhile,
and queues a deploy on each of the tenant's nodes; a node that already has a deploy waiting
gets the parts added to it instead of a second deploy.
"""

from __future__ import annotations

import time

from control import jobs
from control.config import settings
from control.db import unit_of_work
from control.models import Tenant
from control.services import deploys, nodes


def run_apply(tenant_id: int, due: float) -> list[int]:
    """Returns the ids of the deploy records the window produced."""
    wait = due - time.time()
    if wait > 0:
        time.sleep(wait)
    parts = jobs.take_pending(tenant_id)
    if not parts:
        return []
    with unit_of_work() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or not tenant.auto_apply or not settings().auto_apply:
            # Turning automatic apply back on records every part again (deploys.set_auto_apply).
            return []
        record_ids = [
            deploys.request_deploy(session, node.id, None, source="auto", parts=sorted(parts)).id
            for node in nodes.list_nodes(session, tenant_id)
        ]
    for record_id in record_ids:
        jobs.enqueue_deploy(record_id)
    return record_ids
