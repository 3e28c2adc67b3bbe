"""One kind of non-tax payment in the catalogue (tuition, boarding, exam fee ...).

Invariants:
- Amounts are integer fen, never floats. Either ``fixed_fen`` is set (the bill must be exactly
  that) or ``min_fen`` <= ``max_fen`` bound it; the check constraint holds both shapes.
- ``level_required`` is a :class:`bot.vocab.Level` value: the credential level a citizen needs
  to pay bills of this item.
- ``row_digest`` is the digest of the imported row, so a re-import of the same row is a no-op.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class PaymentItem(Base):
    """A catalogue entry, keyed by its code."""

    __tablename__ = "payment_items"
    __table_args__ = (
        CheckConstraint(
            "(fixed_fen IS NOT NULL AND fixed_fen > 0) OR "
            "(fixed_fen IS NULL AND min_fen > 0 AND max_fen >= min_fen)",
            name="amount",
        ),
        CheckConstraint("level_required IN ('light', 'upgraded')", name="level_required"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    agency: Mapped[str] = mapped_column(String(120), index=True)
    city: Mapped[str] = mapped_column(String(40))
    fixed_fen: Mapped[int | None] = mapped_column(default=None)
    min_fen: Mapped[int | None] = mapped_column(default=None)
    max_fen: Mapped[int | None] = mapped_column(default=None)
    level_required: Mapped[str] = mapped_column(String(16), default="light")
    row_digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
