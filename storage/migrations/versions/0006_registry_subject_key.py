"""registry records keep their first lookup hash as the subject key of merchant pseudonyms

Revision ID: 0006_registry_subject_key
Revises: 0005_audit_chain
Create Date: 2026-11-27 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_registry_subject_key"
down_revision = "0005_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("registry_records", sa.Column("subject_key", sa.String(length=64)))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("registry_records", schema=None) as batch_op:
        batch_op.drop_column("subject_key")
