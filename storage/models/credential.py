"""A credential: the pass a citizen holds, bound to one registry subject and one device.

Invariants:
- ``id`` is opaque and random; it never appears in a presentation token (tokens carry a
  per-presentation handle instead), so merchants cannot link tokens by it.
- At most one ``active`` credential per subject and per openid, enforced by partial unique
  indexes (``WHERE status = 'active'``) on SQLite and PostgreSQL alike.
- ``expires_at`` is never later than the end of the ID card's expiry day.
- ``level``, ``status`` and ``reason`` hold values of :mod:`bot.vocab` (``Level``,
  ``CredentialStatus``, ``CredentialReason``); the check constraints spell them in SQL.
- Status only moves away from ``active`` (to ``revoked`` or ``superseded``), with a reason; in
  the same transaction its card-pack code (if any) is queued for ``card/code/unavailable``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow

_ACTIVE = text("status = 'active'")


class Credential(Base):
    """One issued credential."""

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint("level IN ('light', 'upgraded')", name="level"),
        CheckConstraint("status IN ('active', 'revoked', 'superseded')", name="status"),
        Index(
            "uq_credentials_active_subject",
            "subject_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index(
            "uq_credentials_active_openid",
            "openid",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("registry_records.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    openid: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    # The WeChat card-pack code (opaque, random); None when the card pack is off.
    card_code: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
