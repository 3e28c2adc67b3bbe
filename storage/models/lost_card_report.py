"""The durable audit of lost ID card reports and their clearing.

Invariants:
- One append-only row per report or clearing, by the citizen (``POST /api/v1/me/report-lost``)
  or by the authority (``flask registry report-lost|clear-lost``), written in the transaction
  that changed (or found unchanged) the registry record.
- ``changed`` says whether that call changed the flag: repeating a report or a clearing is
  idempotent (nothing changes) and its row says so.
- No ID number, name or account: the record id, who acted (``citizen`` / ``authority``), what,
  and how many credentials ended. The registry record belongs to the authority, so an account
  erasure leaves these rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class LostCardReport(Base):
    """One report of a lost ID card, or its clearing."""

    __tablename__ = "lost_card_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("registry_records.id"), index=True)
    actor: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    changed: Mapped[bool] = mapped_column()
    credentials_revoked: Mapped[int] = mapped_column(default=0)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
