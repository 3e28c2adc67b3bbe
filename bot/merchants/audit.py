"""Writing the verification audit: the single-use mark and the row's own MAC.

Invariants:
- The single-use mark of a token IS its audit row: the row carries ``jti_digest`` under a unique
  index and is inserted with ``ON CONFLICT DO NOTHING`` in the caller's transaction. The mark and
  the audit therefore commit together or not at all: a crash can neither burn a token without
  its audit row nor leave an audit row for a use that did not burn it.
- A token whose mark is already present is a replay; its row is written without a mark.
- In a pipelined PostgreSQL transaction (:func:`storage.pipelined.defers_writes`) the row is a
  plain ``INSERT`` whose result nobody waits for: it travels with the ``COMMIT``. A mark
  already present then fails the whole transaction on the unique index
  (:data:`MARK_INDEX`), and the caller records the replay in a transaction of its own
  (:func:`bot.merchants.verify_commit.verify_and_commit`).
- Every row carries its own HMAC over every audited field from the moment it is inserted
  (:func:`~bot.merchants.audit_macs.own_mac`), and takes no shared lock: concurrent
  verifications insert side by side. Its place in the chain is fixed after commit by the sealer
  (:mod:`bot.merchants.sealing`), which ``flask audit verify`` checks too.
- Never the token itself, never a claim value; the client IP only as a keyed hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.credentials.tokens import PresentationClaims
from bot.merchants.audit_macs import own_mac
from bot.merchants.sealing import ChainReport, seal_pending, verify_chain
from bot.vocab import Level, Scope, VerifyReason, VerifyResult
from storage.models.base import utcnow
from storage.models.verification_audit import VerificationAudit
from storage.pipelined import defers_writes, unique_violation
from storage.prepared import Prepared

__all__ = [
    "MARK_INDEX",
    "AuditEntry",
    "ChainReport",
    "PendingReplay",
    "jti_digest",
    "mark_taken",
    "record_audit",
    "seal_pending",
    "verify_chain",
]


# The unique index that makes a token's first audit row its single-use mark.
MARK_INDEX = "ix_verification_audits_jti_digest"


# Built once and run prepared (storage.prepared); inline(): no implicit RETURNING of the new id,
# so nothing waits for an answer in a pipelined transaction.
_DEFERRED_INSERT = Prepared(insert(cast("Table", VerificationAudit.__table__)).inline())


@dataclass(frozen=True)
class AuditEntry:
    """What one verify call records."""

    merchant_id: int
    credential_id: str | None
    result: VerifyResult
    reason: VerifyReason | None
    scope: Scope
    disclosed: str
    level: Level | None
    client_ip_hash: str


@dataclass
class PendingReplay:
    """The row to write instead, should a deferred marked insert find its mark used at commit
    (filled by :func:`bot.merchants.verify.verify_presentation`)."""

    entry: AuditEntry | None = None


def jti_digest(claims: PresentationClaims) -> str:
    """The single-use mark of a token: a digest of its key id, ``jti``, handle and issue time."""
    material = f"{claims.kid}|{claims.jti}|{claims.cid}|{claims.issued_at}"
    return hashlib.sha256(material.encode()).hexdigest()


def _values(audit_key: bytes, entry: AuditEntry, mark: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "merchant_id": entry.merchant_id,
        "credential_id": entry.credential_id,
        "at": utcnow(),
        "result": entry.result,
        "reason": entry.reason,
        "scope": entry.scope,
        "disclosed": entry.disclosed,
        "level": entry.level,
        "client_ip_hash": entry.client_ip_hash,
        "jti_digest": mark,
    }
    values["mac"] = own_mac(audit_key, values)
    return values


def _insert_marked(session: Session, values: dict[str, Any]) -> bool:
    dialect = session.get_bind().dialect.name
    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        build(VerificationAudit)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["jti_digest"])
        .returning(VerificationAudit.id)
    )
    return session.execute(statement).first() is not None


def record_audit(
    session: Session, audit_key: bytes, entry: AuditEntry, *, mark: str | None = None
) -> bool:
    """Insert the audit row (one statement); with ``mark``, only if no row holds it yet.

    Returns False (and writes nothing) when ``mark`` was already used: the caller then records
    the replay with a row of its own. In a session that defers writes, the row is queued and
    True returned; a used mark then fails the commit (:func:`mark_taken`).
    """
    values = _values(audit_key, entry, mark)
    if defers_writes(session):
        _DEFERRED_INSERT.queue(session, values)
        return True
    if mark is None:
        session.execute(insert(VerificationAudit).values(**values))
        return True
    return _insert_marked(session, values)


def mark_taken(error: BaseException) -> bool:
    """Whether ``error`` (raised at a pipelined commit) is a single-use mark already used."""
    return unique_violation(error) == MARK_INDEX
