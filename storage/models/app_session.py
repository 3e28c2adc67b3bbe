"""Our own mini-program sessions: a short-lived access token and a rotating refresh token.

Only SHA-256 digests of the tokens are stored. ``device_key_id`` is the key the login proved;
refreshes keep it. A refresh rotates both tokens inside one
``family``; presenting an already-rotated refresh token revokes the whole family (replay).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class AppSession(Base):
    """One generation of a device's session."""

    __tablename__ = "app_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(128))
    # The device key this session's login proved (None: opened without a proof, e.g. before
    # device keys existed); presentation tokens need one.
    device_key_id: Mapped[int | None] = mapped_column(ForeignKey("device_keys.id"), default=None)
    family: Mapped[str] = mapped_column(String(32), index=True)
    access_digest: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_digest: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    refresh_expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    rotated: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
