"""Server-Sent Events: presence and activity changes of the user's tenant, as they happen."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from control.live import channel
from control.redis_conn import redis_client
from web.auth import actor

bp = Blueprint("live", __name__, url_prefix="/live")

KEEPALIVE_SECONDS = 15.0


@bp.get("/events")
def events() -> Response:
    tenant_id = actor().tenant_id
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(tenant_id))

    def stream() -> Iterator[bytes]:
        try:
            yield b"retry: 2000\n: connected\n\n"
            quiet_since = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=KEEPALIVE_SECONDS)
                if message is not None:
                    quiet_since = time.monotonic()
                    yield b"data: " + message["data"] + b"\n\n"
                elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = time.monotonic()
                    yield b": keepalive\n\n"
        finally:
            pubsub.close()

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
