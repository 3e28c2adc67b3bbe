"""The head of the verification audit's MAC chain: one row, the last seal, and the sealer's state.

Invariants:
- Exactly one row (``id = 1``), created with the table and by the migration, starting at
  ``seq = 0`` and the all-zero genesis MAC.
- Only the sealer (:func:`bot.merchants.audit.seal_pending`) writes it, holding the row lock
  (``SELECT … FOR UPDATE``), so two sealers never chain onto the same parent. Verify calls never
  touch it: they insert their audit row and commit, without a shared lock.
- ``seq``/``mac`` are those of the newest seal; ``sealed_id`` is the highest audit id at or below
  which every row has been sealed (or refused, see the sealer). ``horizon_id``/``horizon_at`` are
  the highest audit id *allocated* (not necessarily committed) when the sealer last looked, and
  when: rows up to it are final once ``horizon_at`` is older than the settle window.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DDL, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime

GENESIS_MAC = "0" * 64  # the parent MAC of the first chained row


class AuditChainHead(Base):
    """Sequence number and MAC of the newest seal, and how far the sealer got."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    mac: Mapped[str] = mapped_column(String(64))
    sealed_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    horizon_id: Mapped[int | None] = mapped_column(Integer, default=None)
    horizon_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


GENESIS_ROW = (
    "INSERT INTO audit_chain (id, seq, mac, sealed_id) VALUES (1, 0, '" + "0" * 64 + "', 0)"
)
event.listen(AuditChainHead.__table__, "after_create", DDL(GENESIS_ROW))  # type: ignore[no-untyped-call]
