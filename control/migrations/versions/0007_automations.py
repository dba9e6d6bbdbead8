"""Automations that run: conditions, schedule, webhook secret, runs and their step results;
line history that outlives the line (its name and number kept as text on records and activity).

The old triggers and actions map onto the new ones: call_answered and call_outbound become
call_ended (outbound: with that direction), voicemail becomes call_missed; notify_user becomes a
callback by that user.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conditions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("schedule", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("webhook_secret_enc", sa.String(length=400), nullable=True))
    op.execute("UPDATE automations SET conditions = '{}'")
    op.execute(
        "UPDATE automations SET trigger = 'call_ended', conditions = '{\"direction\": \"outbound\"}' "
        "WHERE trigger = 'call_outbound'"
    )
    op.execute("UPDATE automations SET trigger = 'call_ended' WHERE trigger = 'call_answered'")
    op.execute("UPDATE automations SET trigger = 'call_missed' WHERE trigger = 'voicemail'")
    op.execute("UPDATE automation_steps SET action = 'callback' WHERE action = 'notify_user'")
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.alter_column("conditions", existing_type=sa.JSON(), nullable=False)

    op.create_table(
        "automation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=24), nullable=False),
        sa.Column("trigger_key", sa.String(length=200), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("resume_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_automation_runs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint(
            "automation_id", "trigger_key", name=op.f("uq_automation_runs_automation_id_trigger_key")
        ),
    )
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_automation_runs_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_automation_runs_automation_id"), ["automation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_automation_runs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_automation_runs_created_at"), ["created_at"], unique=False)

    op.create_table(
        "automation_step_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_step_results_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_step_results")),
        sa.UniqueConstraint("run_id", "position", name=op.f("uq_automation_step_results_run_id_position")),
    )
    with op.batch_alter_table("automation_step_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_automation_step_results_run_id"), ["run_id"], unique=False)

    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_name", sa.String(length=120), nullable=False, server_default=""))
    with op.batch_alter_table("activity_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_name", sa.String(length=120), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("line_number", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("number", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("automation_run_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_activity_items_automation_run_id_automation_runs"),
            "automation_runs",
            ["automation_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint("fk_activity_items_line_id_lines", type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_activity_items_line_id_lines"), "lines", ["line_id"], ["id"], ondelete="SET NULL"
        )
    op.execute(
        "UPDATE call_records SET line_name = "
        "(SELECT lines.name FROM lines WHERE lines.id = call_records.line_id) WHERE line_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DELETE FROM activity_items WHERE line_id IS NULL AND user_id IS NULL")
    op.execute("DELETE FROM activity_items WHERE kind = 'callback'")
    with op.batch_alter_table("activity_items", schema=None) as batch_op:
        batch_op.drop_constraint("fk_activity_items_line_id_lines", type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_activity_items_line_id_lines"), "lines", ["line_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_activity_items_automation_run_id_automation_runs"), type_="foreignkey"
        )
        batch_op.drop_column("automation_run_id")
        batch_op.drop_column("number")
        batch_op.drop_column("line_number")
        batch_op.drop_column("line_name")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("line_name")
    with op.batch_alter_table("automation_step_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_step_results_run_id"))
    op.drop_table("automation_step_results")
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_runs_created_at"))
        batch_op.drop_index(batch_op.f("ix_automation_runs_state"))
        batch_op.drop_index(batch_op.f("ix_automation_runs_automation_id"))
        batch_op.drop_index(batch_op.f("ix_automation_runs_tenant_id"))
    op.drop_table("automation_runs")
    op.execute("UPDATE automation_steps SET action = 'notify_user' WHERE action = 'callback'")
    op.execute("UPDATE automations SET trigger = 'call_answered' WHERE trigger IN ('call_ended')")
    op.execute("DELETE FROM automations WHERE trigger NOT IN ('call_missed', 'call_answered')")
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret_enc")
        batch_op.drop_column("schedule")
        batch_op.drop_column("conditions")
