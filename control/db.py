"""Engine per process (rq forks), sessions, and the unit of work every edge uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import MetaData, create_engine, event
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


def engine(url: str | None = None) -> Engine:
    """The engine for this process; a forked child gets its own, never its parent's pool."""
    url = url or settings().database_url
    key = (os.getpid(), url)
    if key not in _engines:
        if url.startswith("sqlite"):
            eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(eng, "connect", _sqlite_pragmas)
        else:
            eng = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
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
