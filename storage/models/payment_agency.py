"""An agency that issues non-tax bills (a school, an exam authority ...) and its API key.

Invariants: the key is never stored, only HMAC-SHA256(merchant key pepper, key) in
``key_hash`` (the key has full entropy, as merchant keys do); ``name`` is the agency named by
catalogue items, and an agency issues bills only for its own items.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class PaymentAgency(Base):
    """One issuing agency."""

    __tablename__ = "payment_agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
