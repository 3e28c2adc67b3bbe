"""The append-only audit trail of verifications.

Invariants:
- One row per verify call that passed merchant authentication: merchant, credential (when the
  token led to one), time, result, reason, scope asked, fields disclosed, level, and a keyed hash
  of the client IP. Never the token, never a claim value.
- Rows are never updated or deleted: the ORM refuses both (see the listeners below).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class VerificationAudit(Base):
    """One verification attempt."""

    __tablename__ = "verification_audits"
    __table_args__ = (Index("ix_verification_audits_credential_at", "credential_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    credential_id: Mapped[str | None] = mapped_column(ForeignKey("credentials.id"), default=None)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    result: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    scope: Mapped[str] = mapped_column(String(32))
    disclosed: Mapped[str] = mapped_column(String(120), default="")
    level: Mapped[str | None] = mapped_column(String(16), default=None)
    client_ip_hash: Mapped[str] = mapped_column(String(64))


class AuditIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete an audit row."""


@event.listens_for(VerificationAudit, "before_update")
def _refuse_update(*_args: Any) -> None:
    raise AuditIsAppendOnly("verification audit rows are append-only")


@event.listens_for(VerificationAudit, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise AuditIsAppendOnly("verification audit rows are append-only")
