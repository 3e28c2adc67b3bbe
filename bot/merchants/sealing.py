"""Sealing the verification audit into a MAC chain after commit, and checking the chain.

Why after commit: chaining at insert time made every verification lock the chain head until its
commit, so verifications ran one at a time. Now a row is inserted with its own MAC (no lock) and
one sealer appends its seal later, in audit-id order.

Invariants:
- :func:`seal_pending` seals only rows that are final. It first notes the highest audit id
  *allocated* so far (the sequence, which counts uncommitted inserts too) and when; once that
  note is older than the settle window (:func:`settle_seconds`: every transaction holding an id
  below it has committed or rolled back, because statements and idle transactions are bounded by
  ``statement_timeout`` and ``idle_in_transaction_session_timeout``), it seals every visible row
  up to that id, in id order, and notes a new horizon. Ids left as gaps (rollbacks, replays that
  lost the race) stay gaps.
- A row whose own MAC does not check out, or that carries no MAC, is never sealed; ``verify``
  names it. One sealer at a time: it holds the chain head's row lock (``FOR UPDATE``).
- :func:`verify_chain` walks every row in id order and names the first that does not hold: an
  edited row (its own MAC), a deleted or inserted one (the seals' ``seq``), a row below the
  sealed mark without a seal, a row out of time order by more than ``max_skew_s`` (a copy of an
  old row), and truncation (against the head). Rows newer than the sealed mark are checked by
  their own MAC and counted as pending. Rows chained in-row before seals existed (``seq`` set)
  are checked as before, and the seals continue their chain.
- The window between insert and seal (about the settle window plus the sealer's period) is the
  only time a deleted row goes unnoticed; an edited row shows at any time.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from bot.merchants.audit_macs import CHAINED_FIELDS, own_mac, row_mac, seal_mac
from storage.models.audit_chain import GENESIS_MAC, AuditChainHead
from storage.models.audit_seal import AuditSeal
from storage.models.verification_audit import VerificationAudit

SEAL_BATCH = 5000
SETTLE_MARGIN_S = 1.0
MAX_SKEW_S = 60.0


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``broken_at`` is None when the chain holds."""

    checked: int
    unchained: int
    broken_at: int | None = None
    problem: str = ""
    pending: int = 0

    @property
    def holds(self) -> bool:
        """True when every row, every seal and the head check out."""
        return not self.problem


def settle_seconds(statement_timeout_ms: int) -> float:
    """How long after an id is allocated its row is surely committed or gone: a statement, an
    idle gap and the commit, each bounded by the statement timeout, plus a margin."""
    return 3 * statement_timeout_ms / 1000 + SETTLE_MARGIN_S


def _allocated_id(session: Session) -> int:
    """The highest audit id handed out so far, committed or not."""
    if session.get_bind().dialect.name == "postgresql":
        statement = text(
            "SELECT COALESCE(pg_sequence_last_value("
            "pg_get_serial_sequence('verification_audits', 'id')::regclass), 0)"
        )
        return int(session.scalar(statement) or 0)
    # SQLite: writers are serialised and an id is taken under the write lock, so the highest
    # committed id is the highest allocated one any later commit can fall below.
    return int(session.scalar(select(func.coalesce(func.max(VerificationAudit.id), 0))) or 0)


def seal_pending(session: Session, audit_key: bytes, *, now: dt.datetime, settle_s: float) -> int:
    """One pass of the sealer in the caller's transaction; returns how many rows it sealed."""
    head = session.scalars(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).one()
    sealed = 0
    if head.horizon_id is not None and head.horizon_at is not None:
        if (now - head.horizon_at).total_seconds() >= settle_s:
            sealed = _seal_up_to(session, audit_key, head, head.horizon_id)
    if head.horizon_id is None:
        allocated = _allocated_id(session)
        if allocated > head.sealed_id:
            head.horizon_id, head.horizon_at = allocated, now
    session.flush()
    return sealed


def _seal_up_to(session: Session, audit_key: bytes, head: AuditChainHead, horizon: int) -> int:
    rows = session.scalars(
        select(VerificationAudit)
        .where(VerificationAudit.id > head.sealed_id, VerificationAudit.id <= horizon)
        .order_by(VerificationAudit.id)
        .limit(SEAL_BATCH)
    ).all()
    seals = []
    seq, parent = head.seq, head.mac
    for row in rows:
        fields = {name: getattr(row, name) for name in CHAINED_FIELDS}
        if row.seq is not None or not row.mac:
            continue  # not a row the application wrote this way: left for verify to name
        if not hmac.compare_digest(row.mac, own_mac(audit_key, fields)):
            continue
        seq += 1
        parent = seal_mac(audit_key, parent, seq, row.id, row.mac)
        seals.append({"seq": seq, "audit_id": row.id, "mac": parent})
    if seals:
        session.execute(insert(AuditSeal), seals)
    head.seq, head.mac = seq, parent
    # A full batch may stop short of the horizon; the next pass goes on from its last row.
    head.sealed_id = rows[-1].id if len(rows) == SEAL_BATCH else horizon
    if head.sealed_id >= horizon:
        head.horizon_id, head.horizon_at = None, None
    return len(seals)


def _rows(session: Session, batch: int) -> Iterator[tuple[VerificationAudit, AuditSeal | None]]:
    """Every audit row in id order with its seal, a batch at a time."""
    last_id = 0
    while True:
        rows = session.execute(
            select(VerificationAudit, AuditSeal)
            .outerjoin(AuditSeal, AuditSeal.audit_id == VerificationAudit.id)
            .where(VerificationAudit.id > last_id)
            .order_by(VerificationAudit.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from ((row, seal) for row, seal in rows)
        last_id = rows[-1][0].id


def verify_chain(
    session: Session, audit_key: bytes, *, batch: int = 5000, max_skew_s: float = MAX_SKEW_S
) -> ChainReport:
    """Walk the rows in id order; name the first whose content, place or seal does not hold.

    Call it first in a fresh transaction: on PostgreSQL it reads one snapshot (repeatable read),
    so a sealer committing meanwhile cannot make the head and the rows disagree.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    head = session.get(AuditChainHead, 1)
    sealed_id = head.sealed_id if head is not None else 0
    expected_seq, parent_mac, checked, unchained, pending = 1, GENESIS_MAC, 0, 0, 0
    sealed_seen = False
    latest: dt.datetime | None = None
    for row, seal in _rows(session, batch):
        fields = {name: getattr(row, name) for name in CHAINED_FIELDS}
        if row.seq is not None:  # chained in-row, before seals existed
            if sealed_seen or seal is not None:
                return ChainReport(checked, unchained, row.id, "row outside the chain")
            if row.seq != expected_seq:
                return ChainReport(checked, unchained, row.id, f"expected seq {expected_seq}")
            if not row.mac or not hmac.compare_digest(
                row.mac, row_mac(audit_key, parent_mac, row.seq, fields)
            ):
                return ChainReport(checked, unchained, row.id, "MAC does not match")
            expected_seq, parent_mac, checked = expected_seq + 1, row.mac, checked + 1
            continue
        if not row.mac:
            if checked or seal is not None:  # a row without a MAC after the chain began
                return ChainReport(checked, unchained, row.id, "row outside the chain")
            unchained += 1
            continue
        if not hmac.compare_digest(row.mac, own_mac(audit_key, fields)):
            return ChainReport(checked, unchained, row.id, "MAC does not match")
        if latest is not None and (latest - row.at).total_seconds() > max_skew_s:
            return ChainReport(checked, unchained, row.id, "row out of time order")
        latest = row.at if latest is None or row.at > latest else latest
        if seal is None:
            if row.id <= sealed_id:
                return ChainReport(checked, unchained, row.id, "row outside the chain")
            checked, pending = checked + 1, pending + 1
            continue
        if row.id > sealed_id or pending:
            return ChainReport(checked, unchained, row.id, "sealed beyond the chain head")
        if seal.seq != expected_seq:
            return ChainReport(checked, unchained, row.id, f"expected seq {expected_seq}")
        expected = seal_mac(audit_key, parent_mac, seal.seq, row.id, row.mac)
        if not hmac.compare_digest(seal.mac, expected):
            return ChainReport(checked, unchained, row.id, "seal MAC does not match")
        expected_seq, parent_mac, checked, sealed_seen = seal.seq + 1, seal.mac, checked + 1, True
    if head is None or head.seq != expected_seq - 1 or head.mac != parent_mac:
        return ChainReport(checked, unchained, None, "chain head does not match the last row")
    return ChainReport(checked, unchained, pending=pending)
