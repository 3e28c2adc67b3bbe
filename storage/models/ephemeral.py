"""The SQL backing table of the short-lived store (used when Redis is not configured)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class EphemeralEntry(Base):
    """One key with its value and absolute expiry (epoch seconds); expired rows count as absent."""

    __tablename__ = "ephemeral_entries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    counter: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
