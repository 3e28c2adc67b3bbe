"""One person in the authority registry (the stand-in for the authority's photo database).

Invariants:
- The ID number is stored twice: ``id_hash`` (HMAC-SHA256 under the hash key, purpose
  ``id_number``) for lookup, and ``id_number_sealed`` (AES-GCM under the data key) to disclose it
  to a merchant holding ``full_identity``. The plain number is never stored.
- ``name_sealed`` and ``photo_sealed`` are AES-GCM ciphertexts; the photo is kept only so that
  it can be embedded again when the model pack changes.
- ``row_digest`` is a keyed digest of the imported row plus photo; an import that finds the same
  digest skips the row, so re-imports are idempotent.
- ``light_enrolment_blocked_at`` set = light enrolment of this person is refused. Only a dispute
  ("not me") sets it; only the authority (``flask registry clear-dispute``) or an upgraded
  enrolment at a terminal clears it (:mod:`bot.identity.takeover`).
- ``lost_card_expires_on`` set = the card with that expiry date was reported lost
  (``flask registry report-lost``); terminals refuse its chip.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class RegistryRecord(Base):
    """A registry subject: sealed identity, derived birth date and sex, ID card expiry."""

    __tablename__ = "registry_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key merchant pseudonyms derive from: the first ``id_hash`` of the record, kept when a
    # hash-key rotation re-hashes ``id_hash`` so pseudonyms stay stable. NULL = same as id_hash.
    subject_key: Mapped[str | None] = mapped_column(String(64), default=None)
    id_number_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    photo_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    expires_on: Mapped[dt.date] = mapped_column(Date)
    row_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    light_enrolment_blocked_at: Mapped[dt.datetime | None] = mapped_column(
        UtcDateTime, default=None
    )
    # The expiry date of the card the person reported lost or stolen: a chip with this expiry is
    # refused at terminals. A replacement card has a later expiry, so it needs no clearing.
    lost_card_expires_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
