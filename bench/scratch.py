"""What a bench that drives the integration world runs in: a data dir and a PostgreSQL database of
its own (SWITCHBOARD_BENCH_PG's server; created, migrated, and dropped with every connection to
it afterwards), exported as the process's settings."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(prefix: str) -> Iterator[tuple[str, Path]]:
    """Yields the database URL and the scratch folder."""
    from sqlalchemy import create_engine, text

    from control import config, db
    from control.migrate import upgrade

    scratch = tempfile.TemporaryDirectory(prefix=f"switchboard-bench-{prefix}-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch.name
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    admin_url = os.environ.get(
        "SWITCHBOARD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"sb_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    config.reset_settings()
    try:
        upgrade(url)
        yield url, Path(scratch.name)
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        scratch.cleanup()
