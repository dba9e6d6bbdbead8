"""Two Switchboards on one Redis server, each with a database of its own, do not hear each
other's live updates (Redis pub/sub channels are shared by every database of a server)."""

from __future__ import annotations

import os
import time

import pytest
import redis

from control import live
from control.redis_conn import redis_client


def _url(database: int) -> str:
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9").rsplit("/", 1)[0]
    return f"{base}/{database}"


def test_the_live_channel_of_a_tenant_names_the_redis_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", _url(3))
    first = live.channel(1)
    monkeypatch.setenv("REDIS_URL", _url(4))
    second = live.channel(1)
    assert first != second and first.endswith(":1") and second.endswith(":1")


def test_a_message_published_for_one_database_reaches_only_its_subscribers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listeners = {}
    for database in (3, 4):
        monkeypatch.setenv("REDIS_URL", _url(database))
        pubsub = redis.Redis.from_url(_url(database)).pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(live.channel(1))
        listeners[database] = pubsub
    monkeypatch.setenv("REDIS_URL", _url(3))
    live.publish_all([(1, {"type": "probe"})])
    assert redis_client().connection_pool.connection_kwargs["db"] == 3
    deadline = time.monotonic() + 5
    heard = None
    while heard is None and time.monotonic() < deadline:
        heard = listeners[3].get_message(timeout=0.1)
    assert heard is not None and b"probe" in heard["data"]
    assert listeners[4].get_message(timeout=0.3) is None
    for pubsub in listeners.values():
        pubsub.close()
