"""Importing the authority registry from CSV and re-embedding it for a new model pack.

Invariants:
- One transaction per row: a bad row is reported and skipped, the others are still imported.
- Idempotent: a row whose keyed digest (ID number, name, expiry, photo bytes) is unchanged and
  whose embedding for the active pack exists is skipped; a changed row updates the record.
- A row is rejected, never half-written, when its ID number is invalid, its name or expiry is
  malformed, its photo is missing or outside DIR, or the face engine refuses the photo (no face,
  several faces ...). Reports hold the row number and a reason code, never the ID number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import keyed_hash, seal, seal_text
from bot.csv_import import RowCounts, RowOutcome, RowRejected, read_csv, refuse_repeat, walk_rows
from bot.errors import WangzhengError
from bot.identity.errors import IdNumberInvalid
from bot.identity.idnumber import parse_id_number
from bot.identity.registry import (
    ID_SEAL_PURPOSE,
    NAME_SEAL_PURPOSE,
    PHOTO_SEAL_PURPOSE,
    Embedder,
    Vector,
    find_record,
    id_lookup_hash,
    record_photo,
    reference_embedding,
    store_embedding,
)
from storage.db import Database
from storage.models.base import utcnow
from storage.models.registry_record import RegistryRecord

COLUMNS = ("id_number", "name", "photo", "expires_on")
MAX_NAME_CHARS = 64
MAX_PHOTO_BYTES = 10 * 1024 * 1024


@dataclass
class ImportReport(RowCounts):
    """Counts, failures and timing of an import or re-embed run; every row created or updated
    embedded one photo."""

    writer_seconds: float = 0.0  # batch imports: the parent's own reading, sealing and writing

    @property
    def photos_embedded(self) -> int:
        """Photos embedded: the rows created or updated."""
        return self.created + self.updated

    @property
    def photos_per_second(self) -> float:
        """Photos embedded per second of wall time."""
        return self.photos_embedded / self.seconds if self.seconds > 0 else 0.0


def read_rows(csv_path: Path) -> list[tuple[int, dict[str, str]]]:
    """The CSV's rows with their line numbers; :class:`~bot.csv_import.CsvInvalid` on a bad
    header or encoding."""
    return read_csv(csv_path, COLUMNS)


def photo_bytes(photos_dir: Path, name: str) -> bytes:
    """The photo file inside ``photos_dir``; refuses paths that leave it."""
    if not name:
        raise RowRejected("The photo column is empty.", code="photo_missing")
    root = photos_dir.resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise RowRejected("The photo path leaves the photo folder.", code="photo_path_invalid")
    if not path.is_file():
        raise RowRejected(f"Photo {name!r} does not exist.", code="photo_missing")
    if path.stat().st_size > MAX_PHOTO_BYTES:
        raise RowRejected(f"Photo {name!r} is too large.", code="photo_too_large")
    return path.read_bytes()


def parse_fields(row: dict[str, str]) -> tuple[str, str, dt.date]:
    """Validated ID number, name and expiry of a row."""
    try:
        number = parse_id_number(row["id_number"]).value
    except IdNumberInvalid as exc:
        raise RowRejected(exc.message, code=exc.code) from exc
    name = row["name"]
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise RowRejected("The name is empty, too long or not printable.", code="name_invalid")
    try:
        expires_on = dt.date.fromisoformat(row["expires_on"])
    except ValueError as exc:
        raise RowRejected("expires_on must be a date YYYY-MM-DD.", code="expiry_invalid") from exc
    return number, name, expires_on


def import_row(
    session: Session,
    settings: Settings,
    row: dict[str, str],
    photos_dir: Path,
    embedder: Embedder,
) -> str:
    """Import one row in the caller's transaction; returns created/updated/unchanged."""
    number, name, expires_on = parse_fields(row)
    photo = photo_bytes(photos_dir, row["photo"])
    return upsert_record(session, settings, number, name, expires_on, photo, embedder)


def upsert_record(
    session: Session,
    settings: Settings,
    number: str,
    name: str,
    expires_on: dt.date,
    photo: bytes,
    embedder: Embedder,
) -> str:
    """Create or update one record from validated fields and photo bytes (never written to disk).

    Returns created/updated/unchanged; raises :class:`RowRejected` when the photo cannot serve
    as a reference.
    """
    digest = row_digest(settings, number, name, expires_on, photo)
    record = find_record(session, settings, number)  # also under a retired hash key
    if record is not None and record.row_digest == digest:
        if reference_embedding(session, record.id, embedder.pack_id) is not None:
            return "unchanged"
    try:
        vector = embedder.embed(photo)
    except WangzhengError as exc:
        raise RowRejected(exc.message, code=exc.code) from exc
    return write_record(
        session, settings, number, name, expires_on, photo, digest, embedder.pack_id, vector,
        record=record,
    )  # fmt: skip


def row_digest(
    settings: Settings, number: str, name: str, expires_on: dt.date, photo: bytes
) -> str:
    """The keyed digest of a row (ID number, name, expiry, photo bytes) that makes imports
    idempotent."""
    photo_digest = hashlib.sha256(photo).hexdigest()
    return keyed_hash(
        settings.hash_key,
        "\x1f".join((number, name, str(expires_on), photo_digest)),
        "registry_row",
    )


def write_record(
    session: Session,
    settings: Settings,
    number: str,
    name: str,
    expires_on: dt.date,
    photo: bytes,
    digest: str,
    pack_id: str,
    vector: Vector,
    *,
    record: RegistryRecord | None,
) -> str:
    """Create or update the record (``record``: the one :func:`find_record` found, or None) with
    its sealed fields and embedding; returns created/updated."""
    record, status = fill_record(
        session, settings, number, name, expires_on, photo, digest, record=record
    )
    session.flush()
    store_embedding(session, record.id, pack_id, vector, new_record=status == "created")
    return status


def fill_record(
    session: Session,
    settings: Settings,
    number: str,
    name: str,
    expires_on: dt.date,
    photo: bytes,
    digest: str,
    *,
    record: RegistryRecord | None,
) -> tuple[RegistryRecord, str]:
    """Set the record's sealed fields (a new one is added to ``session``), without flushing, so
    that a batch can write many records in one statement; returns it and created/updated."""
    id_hash = id_lookup_hash(settings.hash_key, number)
    parsed = parse_id_number(number)
    status = "updated"
    if record is None:
        status = "created"
        record = RegistryRecord(id_hash=id_hash)
        session.add(record)
    if record.id_hash != id_hash:  # found under a retired hash key: move it to the current one
        record.subject_key, record.id_hash = record.subject_key or record.id_hash, id_hash
    record.id_number_sealed = seal_text(settings.data_key, number, ID_SEAL_PURPOSE)
    record.name_sealed = seal_text(settings.data_key, name, NAME_SEAL_PURPOSE)
    record.photo_sealed = seal(settings.data_key, photo, PHOTO_SEAL_PURPOSE)
    record.birth_date, record.sex = parsed.birth_date, parsed.sex
    record.expires_on, record.row_digest, record.updated_at = expires_on, digest, utcnow()
    return record, status


def import_records(
    database: Database,
    settings: Settings,
    rows: Iterable[tuple[int, dict[str, str]]],
    photos_dir: Path,
    embedder: Embedder,
    progress: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Import every row, one transaction each; failures are collected, never raised."""
    seen: set[str] = set()

    def step(row: dict[str, str]) -> str:
        refuse_repeat(seen, row["id_number"].strip().upper(), "ID number")
        with database.transaction() as session:
            return import_row(session, settings, row, photos_dir, embedder)

    return walk_rows(rows, step, ImportReport(), progress)


def record_ids(database: Database) -> list[int]:
    """Every registry record id, in order."""
    with database.transaction() as session:
        return list(session.scalars(select(RegistryRecord.id).order_by(RegistryRecord.id)))


def reembed(
    database: Database,
    settings: Settings,
    embedder: Embedder,
    ids: Iterable[int],
    progress: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Recompute each record's embedding for ``embedder.pack_id`` from its sealed photo."""

    def step(record_id: int) -> str | None:
        with database.transaction() as session:
            record = session.get(RegistryRecord, record_id)
            if record is None:
                return None
            try:
                vector = embedder.embed(record_photo(settings, record))
            except WangzhengError as exc:
                raise RowRejected(exc.message, code=exc.code) from exc
            store_embedding(session, record.id, embedder.pack_id, vector)
        return "updated"

    return walk_rows(((record_id, record_id) for record_id in ids), step, ImportReport(), progress)
