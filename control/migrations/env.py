"""Alembic environment: the URL comes from control.config (or the caller's config attribute)."""

from __future__ import annotations

from alembic import context

import control.models  # noqa: F401  (registers every table)
from control.config import settings
from control.db import Base, engine

config = context.config
url = config.attributes.get("database_url") or settings().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
