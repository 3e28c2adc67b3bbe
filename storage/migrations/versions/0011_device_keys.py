"""device keys: a P-256 public key per citizen and device, and the key each session proved

Revision ID: 0011_device_keys
Revises: 0010_terminals
Create Date: 2026-11-27 09:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0011_device_keys"
down_revision = "0010_terminals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "device_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_proved_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name=op.f("fk_device_keys_citizen_id_citizens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_keys")),
        sa.UniqueConstraint("citizen_id", "device_id", name="uq_device_keys_device"),
    )
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_keys_citizen_id"), ["citizen_id"], unique=False)
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_key_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_app_sessions_device_key_id_device_keys"),
            "device_keys",
            ["device_key_id"],
            ["id"],
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("app_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_app_sessions_device_key_id_device_keys"), type_="foreignkey"
        )
        batch_op.drop_column("device_key_id")
    with op.batch_alter_table("device_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_keys_citizen_id"))
    op.drop_table("device_keys")
