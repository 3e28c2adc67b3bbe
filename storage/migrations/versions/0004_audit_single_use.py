"""the single-use mark of a presentation token lives in its audit row

Revision ID: 0004_audit_single_use
Revises: 0003_card_event_credential
Create Date: 2026-11-27 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_single_use"
down_revision = "0003_card_event_credential"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (no table rebuild, so SQLite keeps the append-only triggers)."""
    op.add_column("verification_audits", sa.Column("jti_digest", sa.String(length=64)))
    op.create_index(
        "ix_verification_audits_jti_digest", "verification_audits", ["jti_digest"], unique=True
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_verification_audits_jti_digest", table_name="verification_audits")
    with op.batch_alter_table("verification_audits", schema=None) as batch_op:
        batch_op.drop_column("jti_digest")
