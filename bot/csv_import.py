"""Reading a CSV import file and walking its rows, for every CSV import (the registry,
:mod:`bot.identity.importer`, and the payment catalogue, :mod:`bot.payments.catalogue`).

Invariants:
- A file is read whole before any row is imported: a missing column, an encoding other than
  UTF-8 (a byte-order mark is dropped) or malformed CSV raises :class:`CsvInvalid`, and nothing
  is imported.
- Each row is ``(line, cells)``: ``line`` is its line in the file (the header is line 1) and
  ``cells`` holds exactly the importer's columns, stripped, ``""`` for a missing cell.
- The walk (:func:`walk_rows`) never raises for a bad row: a :class:`RowRejected` becomes a
  failed :class:`RowOutcome` with its reason code and message, and the next row goes on. Any
  other exception (a database error) stops the import.
- Outcomes name a row by line and reason code, never by its cells (ID numbers, names).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.errors import WangzhengError

Item = TypeVar("Item")
Report = TypeVar("Report", bound="RowCounts")


class CsvInvalid(WangzhengError):
    """The CSV file cannot be imported at all (header or encoding)."""

    code = "csv_invalid"


class RowRejected(WangzhengError):
    """One CSV row cannot be imported; ``code`` says why."""

    code = "row_rejected"


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row: ``created``, ``updated``, ``unchanged`` or ``failed``."""

    line: int
    status: str
    reason: str = ""
    message: str = ""


@dataclass
class RowCounts:
    """Counts, failures and wall time of one import."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[RowOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """How many rows failed."""
        return len(self.failures)

    def add(self, outcome: RowOutcome) -> None:
        """Count one row's outcome."""
        if outcome.status == "failed":
            self.failures.append(outcome)
        else:
            setattr(self, outcome.status, getattr(self, outcome.status) + 1)


def read_csv(path: Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """The rows of ``path`` with their line numbers; :class:`CsvInvalid` when a column of
    ``columns`` is missing or the file is not UTF-8 CSV."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in columns if name not in (reader.fieldnames or [])]
            if missing:
                raise CsvInvalid(f"The CSV lacks the column(s): {', '.join(missing)}.")
            return [
                (index + 2, {name: (row.get(name) or "").strip() for name in columns})
                for index, row in enumerate(reader)
            ]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CsvInvalid("The file is not valid UTF-8 CSV.") from exc


def refuse_repeat(seen: set[str], key: str, what: str) -> None:
    """Remember ``key``, or raise ``duplicate_row`` when an earlier row of the file had it: a
    repeated key is refused, never silently merged."""
    if key in seen:
        raise RowRejected(f"The {what} repeats an earlier row.", code="duplicate_row")
    seen.add(key)


def walk_rows(
    items: Iterable[tuple[int, Item]],
    step: Callable[[Item], str | None],
    report: Report,
    progress: Callable[[RowOutcome], None] | None = None,
) -> Report:
    """Apply ``step`` to each item and count its status in ``report`` (``None`` skips the item);
    a :class:`RowRejected` is counted as a failed row, never raised. ``report.seconds`` is set
    to the walk's wall time."""
    started = time.perf_counter()
    for line, item in items:
        outcome: RowOutcome
        try:
            status = step(item)
            if status is None:
                continue
            outcome = RowOutcome(line, status)
        except RowRejected as exc:
            outcome = RowOutcome(line, "failed", exc.code, exc.message)
        report.add(outcome)
        if progress is not None:
            progress(outcome)
    report.seconds = time.perf_counter() - started
    return report
