"""The catalogue of payment items, imported from CSV.

CSV columns: ``code,name,agency,city,amount_fen,min_fen,max_fen,level``. An item has either a
fixed ``amount_fen`` or a ``min_fen``/``max_fen`` range (the other cells empty); ``level`` is
``light`` or ``upgraded`` (empty = light).

Invariants:
- Amounts are integer fen written as plain digits: ``12.50`` or ``1e3`` is refused
  (``amount_invalid``), never rounded. One bill may not exceed :data:`MAX_AMOUNT_FEN`.
- One transaction per row; a bad row is reported with its line and reason and changes nothing.
- Idempotent: a row whose digest is unchanged is ``unchanged``; a changed row updates its item.
- A code repeated within one file is refused (``duplicate_row``), never silently merged.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import WangzhengError
from bot.vocab import Level
from storage.db import Database
from storage.models.base import utcnow
from storage.models.payment_item import PaymentItem

COLUMNS = ("code", "name", "agency", "city", "amount_fen", "min_fen", "max_fen", "level")
REQUIRED = ("code", "name", "agency", "city")
MAX_AMOUNT_FEN = 100_000_000  # one million yuan
DEMO_CATALOGUE = Path(__file__).resolve().parent / "demo_catalogue.csv"
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")


class CatalogueInvalid(WangzhengError):
    """The catalogue file cannot be read (header or encoding)."""

    code = "csv_invalid"


class ItemRejected(WangzhengError):
    """One catalogue row cannot be imported; ``code`` says why."""

    code = "row_rejected"


@dataclass(frozen=True)
class ItemRow:
    """A validated catalogue row."""

    code: str
    name: str
    agency: str
    city: str
    fixed_fen: int | None
    min_fen: int | None
    max_fen: int | None
    level: Level

    def digest(self) -> str:
        """A digest of every field, to skip unchanged rows."""
        fields = (self.code, self.name, self.agency, self.city, self.fixed_fen, self.min_fen)
        text = "\x1f".join(str(value) for value in (*fields, self.max_fen, self.level.value))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class CatalogueReport:
    """Counts and failures (line, reason code, message) of one import."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    seconds: float = 0.0


def read_catalogue(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows with their line numbers; :class:`CatalogueInvalid` on a bad header or encoding."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise CatalogueInvalid(f"The CSV lacks the column(s): {', '.join(missing)}.")
            return [
                (index + 2, {name: (row.get(name) or "").strip() for name in COLUMNS})
                for index, row in enumerate(reader)
            ]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CatalogueInvalid("The file is not valid UTF-8 CSV.") from exc


def _fen(raw: str, column: str) -> int | None:
    if not raw:
        return None
    if not _DIGITS.match(raw) or not 0 < int(raw) <= MAX_AMOUNT_FEN:
        raise ItemRejected(
            f"{column} must be a whole number of fen between 1 and {MAX_AMOUNT_FEN}.",
            code="amount_invalid",
        )
    return int(raw)


def parse_item(row: dict[str, str]) -> ItemRow:
    """Validate one row or raise :class:`ItemRejected` with the reason code."""
    if not _CODE.match(row["code"]):
        raise ItemRejected("code must be 2-32 of A-Z, 0-9, _ and -.", code="code_invalid")
    for column in REQUIRED[1:]:
        value = row[column]
        if not value or len(value) > 120 or not value.isprintable():
            raise ItemRejected(
                f"{column} is empty, too long or not printable.", code="text_invalid"
            )
    fixed = _fen(row["amount_fen"], "amount_fen")
    low, high = _fen(row["min_fen"], "min_fen"), _fen(row["max_fen"], "max_fen")
    if fixed is not None and (low is not None or high is not None):
        raise ItemRejected(
            "Give amount_fen or a min_fen/max_fen range, not both.", code="amount_invalid"
        )
    if fixed is None and (low is None or high is None or low > high):
        raise ItemRejected("Give amount_fen, or min_fen <= max_fen.", code="amount_invalid")
    try:
        level = Level(row["level"] or Level.LIGHT)
    except ValueError:
        raise ItemRejected(
            f"level must be one of {', '.join(Level)}.", code="level_invalid"
        ) from None
    return ItemRow(row["code"], row["name"], row["agency"], row["city"], fixed, low, high, level)


def upsert_item(session: Session, item: ItemRow) -> str:
    """Create or update one item in the caller's transaction: created/updated/unchanged."""
    digest = item.digest()
    row = session.scalars(select(PaymentItem).where(PaymentItem.code == item.code)).first()
    if row is not None and row.row_digest == digest:
        return "unchanged"
    status = "updated"
    if row is None:
        status, row = "created", PaymentItem(code=item.code)
        session.add(row)
    row.name, row.agency, row.city = item.name, item.agency, item.city
    row.fixed_fen, row.min_fen, row.max_fen = item.fixed_fen, item.min_fen, item.max_fen
    row.level_required, row.row_digest, row.updated_at = item.level.value, digest, utcnow()
    session.flush()
    return status


def import_items(
    database: Database,
    rows: Iterable[tuple[int, dict[str, str]]],
    progress: Callable[[int, str], None] | None = None,
) -> CatalogueReport:
    """Import every row, one transaction each; failures are collected, never raised."""
    report, seen = CatalogueReport(), set()
    started = time.perf_counter()
    for line, raw in rows:
        try:
            item = parse_item(raw)
            if item.code in seen:
                raise ItemRejected("The code repeats an earlier row.", code="duplicate_row")
            seen.add(item.code)
            with database.transaction() as session:
                status = upsert_item(session, item)
            setattr(report, status, getattr(report, status) + 1)
        except ItemRejected as exc:
            status = "failed"
            report.failures.append((line, exc.code, exc.message))
        if progress is not None:
            progress(line, status)
    report.seconds = time.perf_counter() - started
    return report
