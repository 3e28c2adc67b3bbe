"""A citizen as WeChat knows them: one row per mini-program openid."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Citizen(Base):
    """The mini-program user (WeChat's ``session_key`` is never stored: nothing needs it)."""

    __tablename__ = "citizens"
    __table_args__ = (Index("uq_citizens_unionid", "unionid", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    # The Open Platform UnionID, from jscode2session when WeChat gives one: the key that links
    # this citizen to their official-account follower row (unique index; NULLs never collide).
    unionid: Mapped[str | None] = mapped_column(String(64), default=None)
    current_device_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # As the mini-program reported it at login (wx.getDeviceInfo), shown to a previous holder
    # whose credential this account takes over.
    current_device_model: Mapped[str | None] = mapped_column(String(64), default=None)
    notify_on_verification: Mapped[bool] = mapped_column(default=False)
    # "Unlock with fingerprint" (WeChat SOTER): the biometric presentations need first
    # (fingerprint | face), or None when the citizen did not ask for one.
    unlock_method: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
