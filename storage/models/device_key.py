"""A mini-program install's public key: the device proves possession of it at every login.

Invariants: one key per citizen and device id, forever (unique); ``public_key`` is the
SubjectPublicKeyInfo (DER) of a P-256 key, public by nature, so it is stored plain. A session
opened after a proof points at the key it proved (``app_sessions.device_key_id``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class DeviceKey(Base):
    """The public key of one device of one citizen."""

    __tablename__ = "device_keys"
    __table_args__ = (UniqueConstraint("citizen_id", "device_id", name="uq_device_keys_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_proved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
