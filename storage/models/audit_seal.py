"""One link of the verification audit's MAC chain, written by the sealer after the row committed.

Invariants:
- ``mac = HMAC(WANGZHENG_AUDIT_KEY, parent mac | seq | audit id | the row's own MAC)``: the seal
  fixes the row's place (its id) and content (its own MAC, which covers every audited field).
- ``seq`` continues the chain without gaps; each audit row has at most one seal (unique index).
- Seals are appended in audit-id order by the single sealer holding the chain head's lock.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AuditSeal(Base):
    """The chain link of one audit row."""

    __tablename__ = "audit_seals"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # No foreign key on purpose: a row deleted behind the application's back must leave its
    # seal behind, so the gap shows in ``flask audit verify`` instead of being refused.
    audit_id: Mapped[int] = mapped_column(Integer, unique=True)
    mac: Mapped[str] = mapped_column(String(64))
