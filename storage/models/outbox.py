"""Side effects that leave the process (WeChat notifications, card updates), sent after commit.

Invariants:
- A row is written in the same transaction as the change it reports, so it exists if and only
  if that change committed.
- ``status`` is ``pending`` until delivered (``sent``) or given up on (``dead``); a pending row
  is due when ``next_attempt_at`` has passed. A sender claims a row by moving
  ``next_attempt_at`` forward with a compare-and-set, so two workers never send it twice at once.
- ``payload`` is JSON with no secrets (openids, template ids, opaque card codes only).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class OutboxMessage(Base):
    """One pending or finished outgoing call."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
