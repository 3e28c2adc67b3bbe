"""the audit chain is sealed after commit: seals table, sealer state on the chain head

Revision ID: 0012_audit_seals
Revises: 0011_device_keys
Create Date: 2026-11-27 08:50:00

Rows written before this revision keep their in-row place (``seq``/``mac``); the sealer's first
seal continues that chain from the head, and starts after the newest existing row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0012_audit_seals"
down_revision = "0011_device_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (no rebuild of verification_audits, so SQLite keeps its triggers)."""
    op.create_table(
        "audit_seals",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("audit_id", name=op.f("uq_audit_seals_audit_id")),
    )
    op.add_column(
        "audit_chain", sa.Column("sealed_id", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("audit_chain", sa.Column("horizon_id", sa.Integer()))
    op.add_column(
        "audit_chain",
        sa.Column("horizon_at", storage.models.base.UtcDateTime(timezone=True)),
    )
    op.execute(
        "UPDATE audit_chain SET sealed_id = "
        "(SELECT COALESCE(MAX(id), 0) FROM verification_audits) WHERE id = 1"
    )


def downgrade() -> None:
    """Revert this revision (rows written since are left without an in-row place)."""
    with op.batch_alter_table("audit_chain", schema=None) as batch_op:
        batch_op.drop_column("horizon_at")
        batch_op.drop_column("horizon_id")
        batch_op.drop_column("sealed_id")
    op.drop_table("audit_seals")
