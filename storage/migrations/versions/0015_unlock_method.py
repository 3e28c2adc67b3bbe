"""unlock method: the biometric a citizen asked presentations to need (WeChat SOTER)

Revision ID: 0015_unlock_method
Revises: 0014_citizen_history
Create Date: 2026-11-27 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_unlock_method"
down_revision = "0014_citizen_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unlock_method", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.drop_column("unlock_method")
