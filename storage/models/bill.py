"""A bill an agency addressed to a citizen by ID number.

Invariants:
- ``id`` is opaque and random (``bl_`` + 128 bits); it is what the citizen's API shows.
- The payer's ID number is stored as ``payer_id_hash`` (the registry's keyed lookup hash, so a
  bill meets its citizen through the credential's registry record) and ``payer_id_sealed``
  (AES-GCM); the name only sealed. Neither ever appears in clear in the database.
- ``(agency_id, agency_ref)`` is unique: re-sending a bill is idempotent, and ``row_digest``
  tells a repeat of the same bill from a different bill under a used reference.
- ``amount_fen`` is an integer number of fen; ``refunded_fen`` never exceeds it.
- ``status`` is a :class:`bot.vocab.BillStatus` value; ``paid_order_id`` names the one order
  whose verified payment settled it (at most one, see ``payment_orders``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Bill(Base):
    """One bill."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("agency_id", "agency_ref", name="uq_bills_agency_ref"),
        CheckConstraint("status IN ('open', 'paid', 'refunded')", name="status"),
        CheckConstraint("amount_fen > 0 AND refunded_fen BETWEEN 0 AND amount_fen", name="amounts"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("payment_agencies.id"))
    agency_ref: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int] = mapped_column(ForeignKey("payment_items.id"))
    payer_id_hash: Mapped[str] = mapped_column(String(64), index=True)
    payer_id_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    payer_name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    amount_fen: Mapped[int] = mapped_column()
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    refunded_fen: Mapped[int] = mapped_column(default=0)
    row_digest: Mapped[str] = mapped_column(String(64))
    paid_order_id: Mapped[int | None] = mapped_column(default=None)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    pay_lock_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
