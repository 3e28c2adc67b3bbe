"""the verification audit is a MAC chain

Revision ID: 0005_audit_chain
Revises: 0004_audit_single_use
Create Date: 2026-11-27 05:00:00

Rows written before this revision stay unchained (``seq`` NULL); the append-only triggers
forbid giving them a place in the chain afterwards, and ``flask audit verify`` reports them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005_audit_chain"
down_revision = "0004_audit_single_use"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (no table rebuild, so SQLite keeps the append-only triggers)."""
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    # The head row as it was at this revision (0012 adds the sealer's columns).
    op.execute("INSERT INTO audit_chain (id, seq, mac) VALUES (1, 0, '" + "0" * 64 + "')")
    op.add_column("verification_audits", sa.Column("seq", sa.Integer()))
    op.add_column("verification_audits", sa.Column("mac", sa.String(length=64)))
    op.create_index("ix_verification_audits_seq", "verification_audits", ["seq"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_verification_audits_seq", table_name="verification_audits")
    with op.batch_alter_table("verification_audits", schema=None) as batch_op:
        batch_op.drop_column("mac")
        batch_op.drop_column("seq")
    op.drop_table("audit_chain")
