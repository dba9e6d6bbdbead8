"""Whether each PBX node's event listener is connected to its PBX right now.

While its AMI/ESL connection is up, a node's listener renews a Redis key every `BEAT_EVERY`
seconds with a time-to-live of `TTL`; it deletes the key when the connection ends. A listener
that dies without a word (SIGKILL, a power cut) stops renewing and the key expires: a node reads
"not connected" at most `TTL` seconds after its listener last proved the connection.

Each renewal is also published on the tenant's live channel (`{"type": "listener", ...}`) so an
open dashboard follows it without a reload: it shows "connected" for `ttl` seconds after the
latest message and "not connected" after that, or at once on a `connected: false` message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from control.live import channel
from control.redis_conn import redis_client

#: Seconds a heartbeat stays valid.
TTL = 15.0
#: Seconds between heartbeats (several per TTL: one late write does not flap the state).
BEAT_EVERY = 5.0


@dataclass(frozen=True, slots=True)
class ListenerState:
    node: str
    connected: bool
    #: epoch seconds the current connection came up (None when not connected)
    since: float | None
    #: seconds the latest heartbeat has left (0 when not connected)
    expires_in: float


def key(node: str) -> str:
    return f"switchboard:listener:{node}"


def _message(node: str, connected: bool, ttl: float) -> bytes:
    return orjson.dumps(
        {"type": "listener", "node": node, "connected": connected, "ttl": ttl, "at": time.time()}
    )


def beat(node: str, tenant_id: int | None, since: float, ttl: float = TTL) -> None:
    """The listener's connection to `node` is up (since `since`): renew and tell the browsers."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.set(key(node), orjson.dumps({"since": since, "at": time.time()}), px=max(1, int(ttl * 1000)))
    if tenant_id is not None:
        pipe.publish(channel(tenant_id), _message(node, True, ttl))
    pipe.execute()


def clear(node: str, tenant_id: int | None) -> None:
    """The listener's connection to `node` ended."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.delete(key(node))
    if tenant_id is not None:
        pipe.publish(channel(tenant_id), _message(node, False, 0.0))
    pipe.execute()


def states(nodes: list[str]) -> dict[str, ListenerState]:
    """Each named node's listener state, in one round trip whatever the number of nodes."""
    if not nodes:
        return {}
    pipe = redis_client().pipeline(transaction=False)
    for node in nodes:
        pipe.get(key(node))
        pipe.pttl(key(node))
    answers = pipe.execute()
    result = {}
    for index, node in enumerate(nodes):
        raw, pttl = answers[2 * index], answers[2 * index + 1]
        if raw is None or pttl is None or pttl <= 0:
            result[node] = ListenerState(node, False, None, 0.0)
            continue
        since = orjson.loads(raw).get("since")
        result[node] = ListenerState(node, True, float(since) if since is not None else None, pttl / 1000)
    return result
