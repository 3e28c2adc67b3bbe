"""Re-sealing every sealed column under the current data key, and re-hashing ID numbers.

Invariants:
- :data:`SEALED_COLUMNS` lists every sealed column with its purpose; a test fails when a model
  gains a ``*_sealed`` column that is not listed here.
- Work goes in batches, each its own transaction, and only touches values not yet under the
  current key, so a killed rotation resumes where it stopped and a finished one is a no-op.
- Until a rotation finishes, the retired key stays in the ring (``WANGZHENG_DATA_KEYS_RETIRED``
  / ``WANGZHENG_HASH_KEYS_RETIRED``) and every value stays readable.
- Re-hashing keeps the record's first hash as ``subject_key``, so merchant pseudonyms stay stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.keys import PURPOSE as SIGNING_KEY_PURPOSE
from bot.crypto import Keyring, seal, unseal, unseal_text
from bot.errors import WangzhengError
from bot.history.log import DETAIL_PURPOSE as HISTORY_PURPOSE
from bot.identity.registry import (
    ID_SEAL_PURPOSE,
    NAME_SEAL_PURPOSE,
    PHOTO_SEAL_PURPOSE,
    id_lookup_hash,
)
from bot.payments.bills import PAYER_ID_PURPOSE, PAYER_NAME_PURPOSE
from bot.terminals.registry import KEY_PURPOSE as TERMINAL_KEY_PURPOSE
from storage.db import Database
from storage.models.base import Base
from storage.models.bill import Bill
from storage.models.citizen_event import CitizenEvent
from storage.models.registry_record import RegistryRecord
from storage.models.signing_key import SigningKey
from storage.models.terminal import Terminal


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values and the purpose they were sealed for."""

    model: type[Base]
    column: str
    purpose: str

    @property
    def label(self) -> str:
        """``table.column``."""
        return f"{self.model.__tablename__}.{self.column}"


SEALED_COLUMNS = (
    SealedColumn(RegistryRecord, "id_number_sealed", ID_SEAL_PURPOSE),
    SealedColumn(RegistryRecord, "name_sealed", NAME_SEAL_PURPOSE),
    SealedColumn(RegistryRecord, "photo_sealed", PHOTO_SEAL_PURPOSE),
    SealedColumn(SigningKey, "private_sealed", SIGNING_KEY_PURPOSE),
    SealedColumn(Terminal, "key_sealed", TERMINAL_KEY_PURPOSE),
    SealedColumn(Bill, "payer_id_sealed", PAYER_ID_PURPOSE),
    SealedColumn(Bill, "payer_name_sealed", PAYER_NAME_PURPOSE),
    SealedColumn(CitizenEvent, "detail_sealed", HISTORY_PURPOSE),
)


class RotationStuck(WangzhengError):
    """A value cannot be unsealed with any key of the ring; the rotation stops there."""

    code = "rotation_stuck"
    status = 500


def reseal_batch(session: Session, ring: Keyring, spec: SealedColumn, batch: int) -> int:
    """Re-seal up to ``batch`` values of ``spec`` not under the current key; returns how many."""
    model = spec.model
    column = getattr(model, spec.column)
    prefix = ring.sealed_prefix()
    rows = session.execute(
        select(model.id, column)  # type: ignore[attr-defined]
        .where(column.is_not(None), func.substr(column, 1, len(prefix)) != prefix)
        .order_by(model.id)  # type: ignore[attr-defined]
        .limit(batch)
    ).all()
    for row_id, sealed in rows:
        try:
            plain = unseal(ring, sealed, spec.purpose)
        except WangzhengError as exc:
            raise RotationStuck(
                f"{spec.label} row {row_id} opens under no key of the ring"
            ) from exc
        session.execute(
            update(model)
            .where(model.id == row_id)  # type: ignore[attr-defined]
            .values({spec.column: seal(ring, plain, spec.purpose)})
        )
    return len(rows)


def rotate_data_key(
    database: Database,
    settings: Settings,
    *,
    batch: int = 500,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Re-seal every sealed column under the current key; returns the count per column."""
    ring = settings.data_keyring
    done: dict[str, int] = {}
    for spec in SEALED_COLUMNS:
        done[spec.label] = 0
        while True:
            with database.transaction() as session:
                count = reseal_batch(session, ring, spec, batch)
            if not count:
                break
            done[spec.label] += count
            if progress:
                progress(spec.label, done[spec.label])
    return done


def rehash_batch(
    session: Session, settings: Settings, after_id: int, batch: int
) -> tuple[int, int]:
    """Re-hash the ID numbers of up to ``batch`` records after ``after_id``.

    Returns (last record id seen, how many changed); (``after_id``, 0) when none are left.
    """
    records = session.scalars(
        select(RegistryRecord).where(RegistryRecord.id > after_id).order_by(RegistryRecord.id)
    ).fetchmany(batch)
    changed = 0
    for record in records:
        number = unseal_text(settings.data_keyring, record.id_number_sealed, ID_SEAL_PURPOSE)
        current = id_lookup_hash(settings.hash_key, number)
        if record.id_hash != current:
            record.subject_key = record.subject_key or record.id_hash
            record.id_hash = current
            changed += 1
    return (records[-1].id if records else after_id), changed


def rehash_bills_batch(
    session: Session, settings: Settings, after_id: str, batch: int
) -> tuple[str, int]:
    """Re-hash the payer ID numbers of up to ``batch`` bills after ``after_id`` (bills are
    matched to citizens by this hash, like registry records)."""
    bills = session.scalars(select(Bill).where(Bill.id > after_id).order_by(Bill.id)).fetchmany(
        batch
    )
    changed = 0
    for bill in bills:
        number = unseal_text(settings.data_keyring, bill.payer_id_sealed, PAYER_ID_PURPOSE)
        current = id_lookup_hash(settings.hash_key, number)
        if bill.payer_id_hash != current:
            bill.payer_id_hash, changed = current, changed + 1
    return (bills[-1].id if bills else after_id), changed


def rotate_hash_key(
    database: Database,
    settings: Settings,
    *,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-hash every record's and every bill's ID number under the current hash key; returns
    how many changed."""
    last_id, total = 0, 0
    while True:
        with database.transaction() as session:
            next_id, changed = rehash_batch(session, settings, last_id, batch)
        if next_id == last_id:
            break
        last_id, total = next_id, total + changed
        if progress:
            progress(last_id, total)
    last_bill = ""
    while True:
        with database.transaction() as session:
            next_bill, changed = rehash_bills_batch(session, settings, last_bill, batch)
        if next_bill == last_bill:
            return total
        last_bill, total = next_bill, total + changed
