"""Numbers: bought from a provider, approved with documents, replaced and cancelled on schedule

The inventory provider's numbers, the per-country document rules, the documents uploaded for
pending numbers, the provider and replacement of each number, and the "number approver"
permission on users.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "number_inventory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("number_type", sa.String(length=24), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_number_inventory_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_inventory")),
        sa.UniqueConstraint("tenant_id", "e164", name=op.f("uq_number_inventory_tenant_id_e164")),
    )
    with op.batch_alter_table("number_inventory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_inventory_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_number_inventory_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_number_inventory_available"), ["available"], unique=False)

    op.create_table(
        "number_country_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("documents_required", sa.Boolean(), nullable=False),
        sa.Column("documents", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_number_country_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_country_rules")),
        sa.UniqueConstraint("tenant_id", "country", name=op.f("uq_number_country_rules_tenant_id_country")),
    )
    with op.batch_alter_table("number_country_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_country_rules_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("replaced_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_phone_numbers_replaced_by_id_phone_numbers"),
            "phone_numbers",
            ["replaced_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_phone_numbers_approved_by_id_users"),
            "users",
            ["approved_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "number_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_number_documents_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_number_documents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_number_documents_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_documents")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_number_documents_stored_name")),
    )
    with op.batch_alter_table("number_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_number_documents_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_number_documents_number_id"), ["number_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approves_numbers", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("approves_numbers")
    op.drop_table("number_documents")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_phone_numbers_approved_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_phone_numbers_replaced_by_id_phone_numbers"), type_="foreignkey"
        )
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approved_by_id")
        batch_op.drop_column("replaced_by_id")
        batch_op.drop_column("provider")
    op.drop_table("number_country_rules")
    op.drop_table("number_inventory")
