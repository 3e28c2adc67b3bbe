"""official-account followers, citizens keyed by UnionID

Revision ID: 0008_wechat_followers
Revises: 0007_credential_takeovers
Create Date: 2026-11-27 09:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0008_wechat_followers"
down_revision = "0007_credential_takeovers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "wechat_followers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("followed_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("linked_at", storage.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_followers")),
        sa.UniqueConstraint("app_id", "openid", name="uq_wechat_followers_app_openid"),
    )
    with op.batch_alter_table("wechat_followers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wechat_followers_unionid"), ["unionid"], unique=False)
    # A unique index, not a constraint: SQLite adds it without rebuilding the table.
    op.create_index("uq_citizens_unionid", "citizens", ["unionid"], unique=True)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("uq_citizens_unionid", table_name="citizens")
    with op.batch_alter_table("wechat_followers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wechat_followers_unionid"))
    op.drop_table("wechat_followers")
