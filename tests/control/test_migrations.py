"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control import db
from control.db import Base


def _modelled(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # The trigram search indexes exist on PostgreSQL only (0001 makes them); the models, shared
    # with SQLite, do not declare them.
    return not (type_ == "index" and reflected and name is not None and name.endswith("_trgm"))


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    with db.engine(database_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _modelled})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
