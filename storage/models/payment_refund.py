"""A refund of (part of) a paid order.

Invariants: ``out_refund_no`` is ours and unique (re-sending a refund is idempotent);
``amount_fen`` is integer fen; the refunds of an order never add up to more than it (checked
under the bill's lock); ``status`` is a :class:`bot.vocab.RefundStatus` value.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class PaymentRefund(Base):
    """One refund."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'success', 'failed')", name="status"),
        CheckConstraint("amount_fen > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("payment_orders.id"), index=True)
    amount_fen: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[str] = mapped_column(String(16), default="processing")
    refund_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
