"""A WeChat Pay v3 order for one bill.

Invariants:
- ``out_trade_no`` is ours, unique and random; ``transaction_id`` is WeChat's, unique once known.
- At most one live order (``creating`` or ``created``) per bill and at most one ``paid`` order
  per bill, each enforced by a partial unique index on SQLite and PostgreSQL alike: two
  concurrent pays cannot both start an order, and two callbacks cannot both settle a bill.
- ``status`` is a :class:`bot.vocab.OrderStatus` value; ``amount_fen`` is integer fen and is
  what a callback's amount must equal.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow

_LIVE = text("status IN ('creating', 'created')")
_PAID = text("status = 'paid'")


class PaymentOrder(Base):
    """One order."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('creating', 'created', 'paid', 'closed', 'duplicate')", name="status"
        ),
        Index(
            "uq_payment_orders_live_bill",
            "bill_id",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
        Index(
            "uq_payment_orders_paid_bill",
            "bill_id",
            unique=True,
            sqlite_where=_PAID,
            postgresql_where=_PAID,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    openid: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="creating")
    prepay_id: Mapped[str | None] = mapped_column(String(64), default=None)
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
