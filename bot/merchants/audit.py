"""Writing and checking the verification audit: the single-use mark and the MAC chain.

Invariants:
- The single-use mark of a token IS its audit row: the row carries ``jti_digest`` under a unique
  index and is inserted with ``ON CONFLICT DO NOTHING`` in the caller's transaction. The mark and
  the audit therefore commit together or not at all: a crash can neither burn a token without
  its audit row nor leave an audit row for a use that did not burn it.
- A token whose mark is already present is a replay; its row is written without a mark.
- Every row is chained: ``mac = HMAC(WANGZHENG_AUDIT_KEY, parent mac | seq | row fields)``, with
  ``seq`` taken from the single chain head (``UPDATE … RETURNING`` locks it until commit). An
  edit, a deletion or an insertion behind the application's back breaks the chain at that row,
  and :func:`verify_chain` names it. Truncating the newest rows shows against the head.
- Never the token itself, never a claim value; the client IP only as a keyed hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.credentials.tokens import PresentationClaims
from bot.vocab import Level, Scope, VerifyReason, VerifyResult
from storage.models.audit_chain import GENESIS_MAC, AuditChainHead
from storage.models.base import utcnow
from storage.models.verification_audit import VerificationAudit

CHAINED_FIELDS = (
    "merchant_id",
    "credential_id",
    "at",
    "result",
    "reason",
    "scope",
    "disclosed",
    "level",
    "client_ip_hash",
    "jti_digest",
)


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


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``broken_at`` is None when the chain holds."""

    checked: int
    unchained: int
    broken_at: int | None = None
    problem: str = ""

    @property
    def holds(self) -> bool:
        """True when every chained row and the head check out."""
        return not self.problem


def jti_digest(claims: PresentationClaims) -> str:
    """The single-use mark of a token: a digest of its key id, ``jti``, handle and issue time."""
    material = f"{claims.kid}|{claims.jti}|{claims.cid}|{claims.issued_at}"
    return hashlib.sha256(material.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def row_mac(audit_key: bytes, parent_mac: str, seq: int, fields: dict[str, Any]) -> str:
    """HMAC-SHA256 over the parent's MAC, the sequence number and the chained fields."""
    body = [parent_mac, seq, *(_canonical(fields.get(name)) for name in CHAINED_FIELDS)]
    message = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(audit_key, message, hashlib.sha256).hexdigest()


def _values(entry: AuditEntry, mark: str | None) -> dict[str, Any]:
    return {
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
    """Chain and insert the audit row; with ``mark``, only if no row holds it yet.

    Returns False (and writes nothing) when ``mark`` was already used: the caller then records
    the replay with a row of its own.
    """
    seq, parent_mac = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + 1)
        .returning(AuditChainHead.seq, AuditChainHead.mac)
    ).one()
    values = _values(entry, mark)
    mac = row_mac(audit_key, parent_mac, seq, values)
    values.update(seq=seq, mac=mac)
    if mark is None:
        session.execute(insert(VerificationAudit).values(**values))
    elif not _insert_marked(session, values):
        # Give the sequence number back: the replay's own row takes it.
        session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq - 1))
        return False
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(mac=mac))
    return True


def _rows(session: Session, batch: int) -> Iterator[VerificationAudit]:
    """Every audit row in id order, a batch at a time."""
    last_id = 0
    while True:
        rows = session.scalars(
            select(VerificationAudit)
            .where(VerificationAudit.id > last_id)
            .order_by(VerificationAudit.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def verify_chain(session: Session, audit_key: bytes, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; name the first row whose place or MAC does not hold."""
    expected_seq, parent_mac, checked, unchained = 1, GENESIS_MAC, 0, 0
    for row in _rows(session, batch):
        if row.seq is None:
            if checked:  # a row without a place after the chain began was slipped in
                return ChainReport(checked, unchained, row.id, "row outside the chain")
            unchained += 1
            continue
        if row.seq != expected_seq:
            return ChainReport(checked, unchained, row.id, f"expected seq {expected_seq}")
        fields = {name: getattr(row, name) for name in CHAINED_FIELDS}
        if not row.mac or not hmac.compare_digest(
            row.mac, row_mac(audit_key, parent_mac, row.seq, fields)
        ):
            return ChainReport(checked, unchained, row.id, "MAC does not match")
        expected_seq, parent_mac, checked = expected_seq + 1, row.mac, checked + 1
    head = session.get(AuditChainHead, 1)
    if head is None or head.seq != expected_seq - 1 or head.mac != parent_mac:
        return ChainReport(checked, unchained, None, "chain head does not match the last row")
    return ChainReport(checked, unchained)
