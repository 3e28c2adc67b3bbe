"""Writing the verification audit, with the single-use mark of a presentation token.

Invariants:
- The single-use mark of a token IS its audit row: the row carries ``jti_digest`` under a unique
  constraint and is inserted with ``ON CONFLICT DO NOTHING`` in the caller's transaction. The
  mark and the audit therefore commit together or not at all: a crash can neither burn a token
  without its audit row nor leave an audit row for a use that did not burn it.
- A token whose mark is already present is a replay; its row is written without a mark.
- Never the token itself, never a claim value; the client IP only as a keyed hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.credentials.tokens import PresentationClaims
from storage.models.verification_audit import VerificationAudit


@dataclass(frozen=True)
class AuditEntry:
    """What one verify call records."""

    merchant_id: int
    credential_id: str | None
    result: str
    reason: str | None
    scope: str
    disclosed: str
    level: str | None
    client_ip_hash: str


def jti_digest(claims: PresentationClaims) -> str:
    """The single-use mark of a token: a digest of its key id, ``jti``, handle and issue time."""
    material = f"{claims.kid}|{claims.jti}|{claims.cid}|{claims.issued_at}"
    return hashlib.sha256(material.encode()).hexdigest()


def _values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "merchant_id": entry.merchant_id,
        "credential_id": entry.credential_id,
        "result": entry.result,
        "reason": entry.reason,
        "scope": entry.scope,
        "disclosed": entry.disclosed,
        "level": entry.level,
        "client_ip_hash": entry.client_ip_hash,
    }


def record_audit(session: Session, entry: AuditEntry, *, mark: str | None = None) -> bool:
    """Insert the audit row; with ``mark``, only if no row holds it yet. True when written."""
    values = _values(entry)
    if mark is None:
        session.execute(insert(VerificationAudit).values(**values))
        return True
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        build(VerificationAudit)
        .values(**values, jti_digest=mark)
        .on_conflict_do_nothing(index_elements=["jti_digest"])
        .returning(VerificationAudit.id)
    )
    return session.execute(statement).first() is not None
