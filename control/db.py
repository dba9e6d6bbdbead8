"""Engine per process (rq forks), sessions, and the unit of work every edge uses."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import MetaData, create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from control import effects
from control.config import settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_engines: dict[tuple[int, str], Engine] = {}
_factories: dict[tuple[int, str], sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: A pooled connection idle longer than this (seconds) is pinged when it is checked out again, so
#: a restarted or cut database costs a reconnect rather than a failed statement. One used moments
#: ago is not: a ping is a round trip, and a request or a command's claim would wait for it.
PING_AFTER_IDLE = 1.0


def _ping_when_idle(eng: Engine) -> None:
    """The pool's pre-ping, only for connections idle longer than PING_AFTER_IDLE."""

    def since_now(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
            return
        try:
            eng.dialect.do_ping(dbapi_connection)
        except eng.dialect.loaded_dbapi.Error as error:
            if eng.dialect.is_disconnect(error, dbapi_connection, None):
                # the pool replaces the connection (and every older one) and checks out anew
                raise exc.InvalidatePoolError(str(error)) from error
            raise

    event.listen(eng, "connect", since_now)
    event.listen(eng, "checkin", since_now)
    event.listen(eng, "checkout", checkout)


def engine(url: str | None = None) -> Engine:
    """The engine for this process; a forked child gets its own, never its parent's pool."""
    url = url or settings().database_url
    key = (os.getpid(), url)
    if key not in _engines:
        if url.startswith("sqlite"):
            eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(eng, "connect", _sqlite_pragmas)
        else:
            eng = create_engine(url, pool_size=10, max_overflow=10)
            _ping_when_idle(eng)
        _engines[key] = eng
        _factories[key] = sessionmaker(bind=eng, expire_on_commit=False)
    return _engines[key]


def new_session(url: str | None = None) -> Session:
    url = url or settings().database_url
    engine(url)
    return _factories[(os.getpid(), url)]()


def dispose_all() -> None:
    for eng in _engines.values():
        eng.dispose()
    _engines.clear()
    _factories.clear()


@contextmanager
def unit_of_work(*, autocommit: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, then run the effects collected during it.

    autocommit=True: every statement commits on its own, with no BEGIN and COMMIT round trips;
    only for a unit whose each write is one self-contained conditional statement (a command's
    claim, where those two round trips would delay the send)."""
    session = new_session()
    if autocommit:
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        effects.discard(session)
        raise
    finally:
        session.close()
    effects.dispatch(session)
