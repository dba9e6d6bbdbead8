"""The "listener connected" heartbeat in Redis: beat, clear, expiry, and what the browsers hear."""

from __future__ import annotations

import time

import orjson
import pytest

from control import listener_status
from control.live import channel
from control.redis_conn import redis_client


@pytest.fixture()
def node() -> str:
    name = f"hb-{time.monotonic_ns()}"
    yield name
    redis_client().delete(listener_status.key(name))


def _wait(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_beat_connects_and_a_clear_disconnects(node: str) -> None:
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel(4242))
    try:
        assert listener_status.states([node])[node].connected is False
        listener_status.beat(node, 4242, since=1000.0, ttl=15)
        state = listener_status.states([node])[node]
        assert state.connected and state.since == 1000.0 and 14 < state.expires_in <= 15
        listener_status.clear(node, 4242)
        assert listener_status.states([node])[node].connected is False
        heard = []
        _wait(lambda: heard.append(pubsub.get_message(timeout=0.1)) or len([m for m in heard if m]) >= 2)
        messages = [orjson.loads(m["data"]) for m in heard if m]
        assert [(m["type"], m["node"], m["connected"], m["ttl"]) for m in messages] == [
            ("listener", node, True, 15),
            ("listener", node, False, 0.0),
        ]
    finally:
        pubsub.close()


def test_a_heartbeat_that_is_not_renewed_expires(node: str) -> None:
    listener_status.beat(node, None, since=time.time(), ttl=0.3)
    assert listener_status.states([node])[node].connected
    _wait(lambda: not listener_status.states([node])[node].connected, timeout=3)
    assert listener_status.states([]) == {}
