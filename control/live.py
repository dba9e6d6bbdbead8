"""Live updates: presence and activity changes published on Redis pub/sub after commit.

Browsers receive them through the web app's Server-Sent Events stream; any process that
commits such changes (web, listener, worker) calls `register_publish_handlers()` once.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from control import effects
from control.db import new_session
from control.redis_conn import redis_client
from control.services import presence


def channel(tenant_id: int) -> str:
    return f"switchboard:live:{tenant_id}"


def publish(tenant_id: int, message: dict[str, Any]) -> None:
    redis_client().publish(channel(tenant_id), orjson.dumps(message))


def _publish_presence(items: list[effects.PresenceChanged]) -> None:
    by_tenant: dict[int, set[int]] = {}
    for item in items:
        by_tenant.setdefault(item.tenant_id, set()).add(item.user_id)
    session = new_session()
    try:
        for tenant_id, user_ids in by_tenant.items():
            for row in presence.tenant_presence(session, tenant_id, sorted(user_ids)):
                publish(
                    tenant_id,
                    {
                        "type": "presence",
                        "user_id": row.user_id,
                        "state": row.state,
                        "line_state": row.line_state,
                        "at": time.time(),
                    },
                )
    finally:
        session.close()


def _publish_activity(items: list[effects.ActivityAdded]) -> None:
    for item in items:
        publish(item.tenant_id, {"type": "activity", "activity_id": item.activity_id, "at": time.time()})


def register_publish_handlers() -> None:
    effects.register(effects.PresenceChanged, _publish_presence)
    effects.register(effects.ActivityAdded, _publish_activity)
