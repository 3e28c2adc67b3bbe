"""The append-only audit trail of verifications.

Invariants:
- One row per verify call that passed merchant authentication: merchant, credential (when the
  token led to one), time, result, reason, scope asked, fields disclosed, level, and a keyed hash
  of the client IP. Never the token, never a claim value.
- The row of a token's first use carries its single-use mark (``jti_digest``, unique): the mark
  and the audit are one row, so they commit together or not at all.
- Each row carries an HMAC over its content and its parent's MAC (``seq``, ``mac``), so an edit,
  deletion or insertion made behind the application's back shows in ``flask audit verify``.
- Rows are never updated or deleted: the ORM refuses both (see the listeners below), and so does
  the database itself, through triggers created with the table (``APPEND_ONLY_DDL``), so raw
  SQL and other clients cannot rewrite history either.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DDL, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class VerificationAudit(Base):
    """One verification attempt."""

    __tablename__ = "verification_audits"
    __table_args__ = (
        Index("ix_verification_audits_credential_at", "credential_id", "at"),
        # A unique index, not a constraint: SQLite adds it without rebuilding the table, which
        # would drop the append-only triggers.
        Index("ix_verification_audits_jti_digest", "jti_digest", unique=True),
        Index("ix_verification_audits_seq", "seq", unique=True),
    )

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
    # The single-use mark of the presented token (bot.merchants.audit); NULL on rows that did
    # not consume one (refused before the signature check, or replays).
    jti_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    # Position in the MAC chain and HMAC over this row and its parent's MAC (bot.merchants.audit).
    # NULL only on rows written before the chain existed.
    seq: Mapped[int | None] = mapped_column(default=None)
    mac: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete an audit row."""


@event.listens_for(VerificationAudit, "before_update")
def _refuse_update(*_args: Any) -> None:
    raise AuditIsAppendOnly("verification audit rows are append-only")


@event.listens_for(VerificationAudit, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise AuditIsAppendOnly("verification audit rows are append-only")


# Database-level guard, per dialect; the migration runs the same statements.
APPEND_ONLY_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER verification_audits_no_update BEFORE UPDATE ON verification_audits "
        "BEGIN SELECT RAISE(ABORT, 'verification audit rows are append-only'); END",
        "CREATE TRIGGER verification_audits_no_delete BEFORE DELETE ON verification_audits "
        "BEGIN SELECT RAISE(ABORT, 'verification audit rows are append-only'); END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION verification_audits_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'verification audit rows are append-only'; END $$",
        "CREATE TRIGGER verification_audits_append_only BEFORE UPDATE OR DELETE "
        "ON verification_audits FOR EACH ROW EXECUTE FUNCTION verification_audits_append_only()",
    ),
}
DROP_APPEND_ONLY_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (),  # the triggers go with the table
    "postgresql": ("DROP FUNCTION IF EXISTS verification_audits_append_only() CASCADE",),
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            VerificationAudit.__table__,
            "after_create",
            DDL(_statement).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
        )
