"""An ES256 (P-256) key that signs presentation tokens.

Invariants:
- The private key is PKCS#8 DER sealed under the data key (purpose ``signing_key``); the
  public JWK is stored in clear for ``/.well-known/jwks.json``.
- Exactly one key is current (signs new tokens): ``is_current`` carries a partial unique index,
  so two workers creating the first key at once cannot both succeed.
- A rotated-out key keeps verifying until ``verify_until``; after that it is no longer
  published nor accepted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow

_CURRENT = text("is_current")


class SigningKey(Base):
    """One signing key with its ``kid``."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        Index(
            "uq_signing_keys_current",
            "is_current",
            unique=True,
            sqlite_where=_CURRENT,
            postgresql_where=_CURRENT,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(32), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="ES256")
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[str] = mapped_column(Text)
    is_current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    verify_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
