"""One database session per request; writes commit through `write()`, then run their effects."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, g
from sqlalchemy.orm import Session

from control import effects
from control.db import new_session


def db() -> Session:
    if "db" not in g:
        g.db = new_session()
    return g.db


@contextmanager
def write() -> Iterator[Session]:
    """A unit of work inside the request: commit, or roll back everything the service changed."""
    session = db()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        effects.discard(session)
        raise
    effects.dispatch(session)


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()
