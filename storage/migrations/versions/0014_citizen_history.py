"""citizen history: the sealed lifecycle log of each citizen, and the lost-card report audit

Revision ID: 0014_citizen_history
Revises: 0013_payments
Create Date: 2026-11-27 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0014_citizen_history"
down_revision = "0013_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "citizen_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=True),
        sa.Column("occurred_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("detail_sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            name=op.f("fk_citizen_events_citizen_id_citizens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_events")),
    )
    with op.batch_alter_table("citizen_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_citizen_events_citizen_time", ["citizen_id", "occurred_at", "id"], unique=False
        )
        batch_op.create_index("ix_citizen_events_credential_id", ["credential_id"], unique=False)
    op.create_table(
        "lost_card_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("credentials_revoked", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["registry_records.id"],
            name=op.f("fk_lost_card_reports_record_id_registry_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lost_card_reports")),
    )
    with op.batch_alter_table("lost_card_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lost_card_reports_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("lost_card_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lost_card_reports_record_id"))
    op.drop_table("lost_card_reports")
    with op.batch_alter_table("citizen_events", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_events_credential_id")
        batch_op.drop_index("ix_citizen_events_citizen_time")
    op.drop_table("citizen_events")
