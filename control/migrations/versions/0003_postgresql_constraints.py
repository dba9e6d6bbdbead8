"""PostgreSQL: the circular foreign keys 0001 left out, and lz4 for raw events

0001 declared five foreign keys with use_alter (tables that point at each other): create_table
skips those on PostgreSQL, so they were never made there. A reference left dangling meanwhile is
cleared first, as ON DELETE SET NULL would have done.

Each FreeSWITCH raw event keeps its ~150 headers (4-5 kB of JSON): pglz, PostgreSQL's default
compression for values that size, costs more CPU than the rest of storing the event; lz4 is
several times cheaper to write and to read back.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column, referred table): every one ON DELETE SET NULL, as the models declare.
CIRCULAR = (
    ("users", "caller_id_number_id", "phone_numbers"),
    ("queues", "fallback_ring_group_id", "ring_groups"),
    ("lines", "default_caller_id_id", "phone_numbers"),
    ("lines", "destination_ring_group_id", "ring_groups"),
    ("ring_groups", "fallback_ring_group_id", "ring_groups"),
)


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite made them inline with their tables
    for table, column, referred in CIRCULAR:
        rows, target = sa.table(table, sa.column(column)), sa.table(referred, sa.column("id"))
        op.execute(
            rows.update()
            .where(rows.c[column].is_not(None), rows.c[column].not_in(sa.select(target.c.id)))
            .values({column: None})
        )
        op.create_foreign_key(
            _name(table, column, referred), table, referred, [column], ["id"], ondelete="SET NULL"
        )
    op.execute("ALTER TABLE raw_events ALTER COLUMN payload SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE raw_events ALTER COLUMN payload SET COMPRESSION pglz")
    for table, column, referred in CIRCULAR:
        op.drop_constraint(_name(table, column, referred), table, type_="foreignkey")
