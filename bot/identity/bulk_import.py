"""Registry import at city scale: embedding in worker processes, commits in batches, resumable.

Invariants:
- Rows go in batches of ``batch``. Each batch is first checked against the database in one
  transaction (one query finds the batch's existing records): a row whose keyed digest is
  unchanged and whose embedding for the active pack exists is ``unchanged`` and is never
  embedded again. The rest are embedded (by ``workers`` processes when more than one) and
  written in one transaction per batch, which again finds the batch's records in one query.
- Pipelined: while the parent writes batch k, the workers already embed batch k+1, so neither
  waits for the other (with ``workers`` = 1 the embedding runs in the parent, in turn).
- Resumable without duplicates: a killed import loses at most the batches in flight (the one
  being written and the one being embedded). Run it again and every committed row is skipped as
  unchanged before any embedding, so it carries on where it stopped; records are upserted by
  their unique ID hash, never inserted twice.
- A bad row (field, photo, a face the engine refuses) is reported by line and reason code and
  skipped before anything is written; the other rows of its batch still commit. A database
  error while writing a batch rolls the whole batch back and stops the import (rerun it).
- Worker processes get photo bytes and return an embedding or a rejection code; ID numbers and
  names never leave the parent, and workers never touch the database. They are spawned, not
  forked (onnxruntime is not fork-safe), and each loads the face engine once.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.csv_import import RowOutcome, RowRejected, refuse_repeat
from bot.errors import WangzhengError
from bot.face.packs import ensure_pack
from bot.identity.importer import ImportReport, fill_record, parse_fields, photo_bytes, row_digest
from bot.identity.registry import (
    Vector,
    engine_embedder,
    find_records,
    reference_embedding,
    store_embedding,
)
from storage.db import Database
from storage.models.registry_record import RegistryRecord

Embedded = tuple[str, Any]  # ("ok", vector) or ("rejected", (code, message))
_worker_embed: Callable[[bytes], Vector] | None = None


@dataclass
class _Row:
    """One CSV row on its way through a batch."""

    line: int
    number: str = ""
    name: str = ""
    expires_on: Any = None
    photo: bytes = b""
    digest: str = ""
    outcome: RowOutcome | None = None  # set once decided (unchanged or failed)


def _init_worker(settings: Settings) -> None:
    """In a worker process: load the face engine once."""
    global _worker_embed
    _worker_embed = engine_embedder(settings).embed


def _embed_in_worker(photo: bytes) -> Embedded:
    """Embed one photo in a worker; a refused photo is a result, not an exception."""
    assert _worker_embed is not None  # noqa: S101 - set by the pool initializer
    return _embed_safely(_worker_embed, photo)


def _embed_safely(embed: Callable[[bytes], Vector], photo: bytes) -> Embedded:
    try:
        return "ok", embed(photo)
    except WangzhengError as exc:
        return "rejected", (exc.code, exc.message)


def _prepare(
    database: Database,
    settings: Settings,
    pack_id: str,
    batch: Sequence[tuple[int, dict[str, str]]],
    photos_dir: Path,
    seen: set[str],
) -> list[_Row]:
    """Validate the batch's rows, read their photos, and mark those already imported."""
    rows = []
    with database.transaction() as session:
        numbers = []
        for _, raw in batch:
            try:
                numbers.append(parse_fields(raw)[0])
            except RowRejected:
                continue  # reported below, in order
        found = find_records(session, settings, numbers)
        for line, raw in batch:
            row = _Row(line)
            rows.append(row)
            try:
                row.number, row.name, row.expires_on = parse_fields(raw)
                refuse_repeat(seen, row.number, "ID number")
                row.photo = photo_bytes(photos_dir, raw["photo"])
            except RowRejected as exc:
                row.outcome = RowOutcome(line, "failed", exc.code, exc.message)
                continue
            row.digest = row_digest(settings, row.number, row.name, row.expires_on, row.photo)
            record = found.get(row.number)
            if record is not None and record.row_digest == row.digest:
                if reference_embedding(session, record.id, pack_id) is not None:
                    row.outcome = RowOutcome(line, "unchanged")
    return rows


def _write(
    database: Database, settings: Settings, pack_id: str, rows: list[_Row],
    embedded: Iterator[Embedded],
) -> None:  # fmt: skip
    """Write the batch's embedded rows in one transaction: the records in one flush (one
    multi-row INSERT with RETURNING, plus the updates), then their embeddings in another."""
    with database.transaction() as session:
        found = find_records(session, settings, [r.number for r in rows if r.outcome is None])
        written: list[tuple[_Row, RegistryRecord, str, Vector]] = []
        for row in rows:
            if row.outcome is not None:
                continue
            kind, value = next(embedded)
            if kind != "ok":
                code, message = value
                row.outcome = RowOutcome(row.line, "failed", code, message)
                continue
            record, status = fill_record(
                session, settings, row.number, row.name, row.expires_on, row.photo,
                row.digest, record=found.get(row.number),
            )  # fmt: skip
            written.append((row, record, status, value))
        session.flush()
        for _row, record, status, vector in written:
            store_embedding(session, record.id, pack_id, vector, new_record=status == "created")
        session.flush()
    for row, _, status, _ in written:  # committed
        row.outcome = RowOutcome(row.line, status)


def import_in_batches(
    database: Database,
    settings: Settings,
    rows: Sequence[tuple[int, dict[str, str]]],
    photos_dir: Path,
    *,
    workers: int = 1,
    batch: int = 64,
    progress: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Import every row (see the module invariants); failures are collected, never raised."""
    pack_id = ensure_pack(settings.face_model_root, settings.face_model_pack).pack_id
    pool: Any = None
    if workers > 1:
        pool = mp.get_context("spawn").Pool(workers, _init_worker, (settings,))
    else:
        embed = engine_embedder(settings).embed

    def submit(photos: list[bytes]) -> Callable[[], list[Embedded]]:
        """Start embedding ``photos`` (in the pool when there is one); returns the waiter."""
        if pool is None:
            return lambda: [_embed_safely(embed, photo) for photo in photos]
        chunk = max(1, len(photos) // (workers * 4))
        return pool.map_async(_embed_in_worker, photos, chunksize=chunk).get  # type: ignore[no-any-return]

    report = ImportReport()
    started = time.perf_counter()
    seen: set[str] = set()

    def finish(prepared: list[_Row], embedded: Callable[[], list[Embedded]]) -> None:
        results = embedded()
        writing = time.perf_counter()
        _write(database, settings, pack_id, prepared, iter(results))
        report.writer_seconds += time.perf_counter() - writing
        for row in prepared:
            assert row.outcome is not None  # noqa: S101 - every row was decided above
            report.add(row.outcome)
            if progress is not None:
                progress(row.outcome)

    in_flight: tuple[list[_Row], Callable[[], list[Embedded]]] | None = None
    try:
        for start in range(0, len(rows), batch):
            preparing = time.perf_counter()
            prepared = _prepare(
                database, settings, pack_id, rows[start : start + batch], photos_dir, seen
            )
            report.writer_seconds += time.perf_counter() - preparing
            waiter = submit([row.photo for row in prepared if row.outcome is None])
            if in_flight is not None:
                finish(*in_flight)
            in_flight = (prepared, waiter)
        if in_flight is not None:
            finish(*in_flight)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    report.seconds = time.perf_counter() - started
    return report
