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
    """The tenant's live channel. Redis pub/sub ignores database numbers: the channel names the
    database, so Switchboards sharing a Redis server (a database each) never hear each other."""
    database = redis_client().connection_pool.connection_kwargs.get("db", 0)
    return f"switchboard:{database}:live:{tenant_id}"


def publish_all(messages: list[tuple[int, dict[str, Any]]]) -> None:
    """Several messages in one round trip (a batch of PBX events changes many at once)."""
    if not messages:
        return
    pipe = redis_client().pipeline(transaction=False)
    for tenant_id, message in messages:
        pipe.publish(channel(tenant_id), orjson.dumps(message))
    pipe.execute()


def _publish_presence(items: list[effects.PresenceChanged]) -> None:
    by_tenant: dict[int, set[int]] = {}
    for item in items:
        by_tenant.setdefault(item.tenant_id, set()).add(item.user_id)
    messages = []
    session = new_session()
    try:
        for tenant_id, user_ids in by_tenant.items():
            for row in presence.tenant_presence(session, tenant_id, sorted(user_ids)):
                messages.append(
                    (
                        tenant_id,
                        {
                            "type": "presence",
                            "user_id": row.user_id,
                            "state": row.state,
                            "line_state": row.line_state,
                            "at": time.time(),
                        },
                    )
                )
    finally:
        session.close()
    publish_all(messages)


def _publish_activity(items: list[effects.ActivityAdded]) -> None:
    publish_all(
        [
            (item.tenant_id, {"type": "activity", "activity_id": item.activity_id, "at": time.time()})
            for item in items
        ]
    )


def register_publish_handlers() -> None:
    effects.register(effects.PresenceChanged, _publish_presence)
    effects.register(effects.ActivityAdded, _publish_activity)
