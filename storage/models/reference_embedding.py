"""The reference embedding of a registry photo under one face model pack.

Invariants: at most one row per (record, pack) (unique constraint); ``vector`` holds the
L2-normalised embedding as little-endian float32 bytes, ``dimensions`` long. When the pack
changes, ``flask registry reembed`` adds rows for the new pack from the sealed photo.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class ReferenceEmbedding(Base):
    """One embedding of one registry record's photo for one model pack."""

    __tablename__ = "reference_embeddings"
    __table_args__ = (
        UniqueConstraint("record_id", "pack_id", name="uq_reference_embeddings_pack"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("registry_records.id", ondelete="CASCADE"), index=True
    )
    pack_id: Mapped[str] = mapped_column(String(64))
    dimensions: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
