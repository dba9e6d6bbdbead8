"""The pool's ping before use: a connection used moments ago goes straight to work (a ping is a
round trip the request, or a command's claim, would wait for); one idle longer is pinged, and a
dead one is replaced before the unit of work starts, never failing it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from control import db

pytestmark = pytest.mark.skipif(
    os.environ.get("SWITCHBOARD_TEST_DB", "sqlite") != "postgresql", reason="SQLite is pooled apart"
)


@pytest.fixture()
def pings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    engine = db.engine()
    seen: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection):  # type: ignore[no-untyped-def]
        seen.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def _backend() -> int:
    with db.unit_of_work() as s:
        return int(s.scalar(text("SELECT pg_backend_pid()")))


def test_a_connection_used_moments_ago_is_not_pinged(pings: list[int]) -> None:
    _backend()
    pings.clear()
    for _ in range(3):
        _backend()
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    database_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _backend()
    outside = create_engine(database_url, poolclass=NullPool)  # not of the pool: ends its backend
    with outside.begin() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
    outside.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    pings.clear()
    after = _backend()  # the checkout's ping finds it dead: a new connection, no error
    assert pings and after != before
