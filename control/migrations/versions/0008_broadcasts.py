"""Broadcasts that send: recipients resolved at start with their outcome, retries, the recording,
the tenant's throttle and contacts' do-not-call.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_count", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("retry_delay", sa.Integer(), nullable=False, server_default="300"))
        batch_op.add_column(sa.Column("ring_seconds", sa.Integer(), nullable=False, server_default="30"))
        batch_op.add_column(sa.Column("recording", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("broadcast_calls_per_second", sa.Integer(), nullable=False, server_default="5")
        )
        batch_op.add_column(
            sa.Column("broadcast_max_concurrent", sa.Integer(), nullable=False, server_default="10")
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["command_id"], ["commands.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_broadcast_recipients_broadcast_status", "broadcast_recipients", ["broadcast_id", "status"]
    )
    op.create_index("ix_broadcast_recipients_tenant_id", "broadcast_recipients", ["tenant_id"])
    op.create_index("ix_broadcast_recipients_last_attempt_at", "broadcast_recipients", ["last_attempt_at"])
    op.create_index("ix_broadcast_recipients_command_id", "broadcast_recipients", ["command_id"], unique=True)


def downgrade() -> None:
    op.drop_table("broadcast_recipients")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("do_not_call")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("broadcast_max_concurrent")
        batch_op.drop_column("broadcast_calls_per_second")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        for column in (
            "finished_at",
            "started_at",
            "recording",
            "ring_seconds",
            "retry_delay",
            "retry_count",
        ):
            batch_op.drop_column(column)
