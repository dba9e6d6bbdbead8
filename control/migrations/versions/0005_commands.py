"""Commands to the live PBX, text messages, and text items on activity

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("pbx", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("answer", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_commands_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["pbx_nodes.id"], name=op.f("fk_commands_node_id_pbx_nodes"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_commands_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_commands_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_commands_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_state"), ["state"], unique=False)
        batch_op.create_index(
            "ix_commands_actor_kind_created", ["actor_id", "kind", "created_at"], unique=False
        )

    op.create_table(
        "text_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("from_number", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_text_messages_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["lines.id"], name=op.f("fk_text_messages_line_id_lines"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_text_messages_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_text_messages_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["commands.id"],
            name=op.f("fk_text_messages_command_id_commands"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_messages")),
    )
    with op.batch_alter_table("text_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_text_messages_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_text_messages_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_text_messages_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_text_messages_created_at"), ["created_at"], unique=False)

    with op.batch_alter_table("activity_items", schema=None) as batch_op:
        batch_op.alter_column("call_record_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("text_message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_activity_items_text_message_id_text_messages"),
            "text_messages",
            ["text_message_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            batch_op.f("ix_activity_items_text_message_id"), ["text_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("activity_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_items_text_message_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_activity_items_text_message_id_text_messages"), type_="foreignkey"
        )
        batch_op.drop_column("text_message_id")
    op.execute("DELETE FROM activity_items WHERE call_record_id IS NULL")
    with op.batch_alter_table("activity_items", schema=None) as batch_op:
        batch_op.alter_column("call_record_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("text_messages")
    op.drop_table("commands")
