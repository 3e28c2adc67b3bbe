"""A trusted terminal: an offline kiosk at a service site that reads ID card chips.

Invariants:
- The terminal's HMAC key is never stored in the clear: ``key_sealed`` is AES-GCM under the data
  key (purpose ``terminal.key``), because verifying an HMAC needs the key itself; a hash would not
  do. ``key_hint`` keeps the key's first characters so an operator can tell keys apart.
- A disabled terminal is refused exactly like an unknown one (no oracle).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Terminal(Base):
    """One registered terminal and its current (sealed) signing key."""

    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    site: Mapped[str] = mapped_column(String(120))
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_hint: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    key_rotated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
