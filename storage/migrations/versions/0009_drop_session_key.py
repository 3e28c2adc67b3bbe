"""stop storing WeChat's session_key

Revision ID: 0009_drop_session_key
Revises: 0008_wechat_followers
Create Date: 2026-11-27 08:55:00.000000

Nothing read the sealed ``citizens.session_key_sealed``; keeping a WeChat secret nobody uses
only widens what a stolen database holds. The downgrade restores an empty column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_drop_session_key"
down_revision = "0008_wechat_followers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.drop_column("session_key_sealed")


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("citizens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_key_sealed", sa.LargeBinary(), nullable=True))
