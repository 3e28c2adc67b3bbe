"""The citizen's lifecycle log: what happened to their account, credential and device.

Invariants:
- One row per lifecycle event the citizen may see in ``GET /api/v1/me/history`` (issuance,
  end of a credential, device change, unlock switched on or off, unlock verified, lost-card
  report, takeover), written by :mod:`bot.history.log` in the transaction of the change itself.
- ``detail_sealed`` holds the personal part (device model, levels, reasons, the citizen's own
  credential ids) as JSON sealed with AES-GCM under the data key, purpose
  ``citizen_event_detail``; ``kind`` and ``occurred_at`` stay plain for ordering and paging.
- ``credential_id`` (plain, never shown unless the credential is the citizen's own) lets the
  history find the device a verified credential was issued on.
- Rows belong to the citizen: account erasure deletes them (``bot.devices.erasure``), and the
  foreign key cascades on PostgreSQL as a second guard.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class CitizenEvent(Base):
    """One line of a citizen's lifecycle history."""

    __tablename__ = "citizen_events"
    __table_args__ = (
        Index("ix_citizen_events_citizen_time", "citizen_id", "occurred_at", "id"),
        Index("ix_citizen_events_credential_id", "credential_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    credential_id: Mapped[str | None] = mapped_column(String(40), default=None)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    detail_sealed: Mapped[bytes] = mapped_column(LargeBinary)
