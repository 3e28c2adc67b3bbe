"""trusted terminals, upgraded-credential passwords, lost cards, merchant capabilities

Revision ID: 0010_terminals
Revises: 0009_drop_session_key
Create Date: 2026-11-27 08:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision = "0010_terminals"
down_revision = "0009_drop_session_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "terminals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("site", sa.String(length=120), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("key_rotated_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", storage.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_terminals_public_id")),
    )
    op.create_table(
        "credential_passwords",
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=160), nullable=False),
        sa.Column("set_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credentials.id"],
            name=op.f("fk_credential_passwords_credential_id_credentials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_credential_passwords")),
    )
    op.add_column("registry_records", sa.Column("lost_card_expires_on", sa.Date()))
    op.add_column(
        "merchants",
        sa.Column("capabilities", sa.String(length=64), nullable=False, server_default=""),
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("capabilities")
    with op.batch_alter_table("registry_records", schema=None) as batch_op:
        batch_op.drop_column("lost_card_expires_on")
    op.drop_table("credential_passwords")
    op.drop_table("terminals")
