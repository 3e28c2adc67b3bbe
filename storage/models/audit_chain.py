"""The head of the verification audit's MAC chain: one row, the last sequence number and MAC.

Invariants:
- Exactly one row (``id = 1``), created with the table and by the migration, starting at
  ``seq = 0`` and the all-zero genesis MAC.
- Every audit insert first bumps ``seq`` with ``UPDATE … RETURNING`` (which locks the row until
  commit), so concurrent verifications chain one after another, never onto the same parent.
"""

from __future__ import annotations

from sqlalchemy import DDL, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

GENESIS_MAC = "0" * 64  # the parent MAC of the first chained row


class AuditChainHead(Base):
    """Sequence number and MAC of the newest chained audit row."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    mac: Mapped[str] = mapped_column(String(64))


GENESIS_ROW = "INSERT INTO audit_chain (id, seq, mac) VALUES (1, 0, '" + "0" * 64 + "')"
event.listen(AuditChainHead.__table__, "after_create", DDL(GENESIS_ROW))  # type: ignore[no-untyped-call]
