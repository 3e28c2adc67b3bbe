"""A merchant account: who may call the verify API and what it may learn.

Invariants:
- The API key is never stored: ``key_hash`` is HMAC-SHA256(merchant key pepper, key), hex;
  ``key_hint`` keeps the key's first characters so an operator can tell keys apart.
- ``pseudonym_salt`` is 32 random bytes per merchant; the pseudonym of a citizen is
  HMAC(salt, subject), so two merchants' pseudonyms cannot be linked.
- ``scopes`` is a comma-separated subset of result, age_over_18, name_masked, full_identity;
  ``full_identity`` only for the categories obliged by law to register identity.
- ``capabilities`` is a comma-separated subset of :class:`bot.vocab.Capability` (``face``);
  it is read only by the operations that need it, never on the plain verify path.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Merchant(Base):
    """One merchant and its current API key hash."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(120))
    # Comma list of bot.vocab.Capability values beyond disclosure (``face``: the counter check).
    capabilities: Mapped[str] = mapped_column(String(64), default="", server_default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(16))
    pseudonym_salt: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    key_rotated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
