"""WeChat card-pack events (user_get_card, user_del_card, user_view_card, update_member_card).

Rows are append-only. ``user_card_code`` is our opaque card code (never an ID number);
``credential_id`` is the credential that carried that code, when there is one, so each event is
recorded against its credential. ``wechat_event_key`` de-duplicates WeChat's redeliveries.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class CardEvent(Base):
    """One card event pushed by WeChat to ``/wechat/callback``."""

    __tablename__ = "card_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    wechat_event_key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64), index=True)
    card_id: Mapped[str] = mapped_column(String(64), default="")
    user_card_code: Mapped[str] = mapped_column(String(64), default="", index=True)
    credential_id: Mapped[str | None] = mapped_column(
        ForeignKey("credentials.id"), index=True, default=None
    )
    wechat_created_at: Mapped[int] = mapped_column(BigInteger, default=0)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
