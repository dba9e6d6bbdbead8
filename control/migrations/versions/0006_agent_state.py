"""Presence: a call-center agent's queue status as the PBX reports it (on break, logged out)

mod_callcenter puts an agent On Break by itself after max-no-answer unanswered offers; the
people who see presence must see that too.

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("presence_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_state", sa.String(length=12), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("agent_reason", sa.String(length=40), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("presence_states", schema=None) as batch_op:
        batch_op.drop_column("agent_reason")
        batch_op.drop_column("agent_state")
