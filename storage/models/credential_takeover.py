"""A takeover: a subject's active credential re-issued to a different WeChat account.

Invariants:
- One row per credential that ended with reason ``reissued_to_other_account``, written in the
  transaction that issued its successor; rows are never deleted (they are the rate limit's
  history and the dispute's evidence).
- ``id`` is opaque and random: it is the handle of the "not me" link sent to the previous
  holder, and only that holder (``previous_openid``) may dispute it.
- ``device_model`` is what the new holder's mini-program reported at login, shown to the
  previous holder as is; nothing else about the new holder is kept here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class CredentialTakeover(Base):
    """One re-issue of a subject's credential to another account, and its dispute if any."""

    __tablename__ = "credential_takeovers"
    __table_args__ = (Index("ix_credential_takeovers_subject_time", "subject_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("registry_records.id"))
    previous_credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"))
    previous_openid: Mapped[str] = mapped_column(String(64), index=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"))
    device_model: Mapped[str | None] = mapped_column(String(64), default=None)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    disputed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
