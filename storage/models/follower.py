"""A follower of the official account (公众号), as WeChat knows them in that account.

Invariants:
- One row per (official account app id, openid); the openid is the official account's, never
  the mini-program's, so the two are never compared with each other.
- ``unionid`` is filled from ``cgi-bin/user/info`` (through the outbox, never inside WeChat's
  5-second reply window); until then the follower is linked to no citizen.
- ``subscribed`` follows the last subscribe/unsubscribe event; rows are kept on unsubscribe so a
  returning follower keeps their link.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Follower(Base):
    """One official-account follower."""

    __tablename__ = "wechat_followers"
    __table_args__ = (UniqueConstraint("app_id", "openid", name="uq_wechat_followers_app_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    subscribed: Mapped[bool] = mapped_column(default=True)
    followed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    linked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
