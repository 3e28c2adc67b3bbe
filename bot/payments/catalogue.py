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

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.csv_import import RowCounts, RowOutcome, RowRejected, read_csv, refuse_repeat, walk_rows
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


def read_catalogue(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows with their line numbers; :class:`~bot.csv_import.CsvInvalid` on a bad header or
    encoding."""
    return read_csv(path, COLUMNS)


def _fen(raw: str, column: str) -> int | None:
    if not raw:
        return None
    if not _DIGITS.match(raw) or not 0 < int(raw) <= MAX_AMOUNT_FEN:
        raise RowRejected(
            f"{column} must be a whole number of fen between 1 and {MAX_AMOUNT_FEN}.",
            code="amount_invalid",
        )
    return int(raw)


def parse_item(row: dict[str, str]) -> ItemRow:
    """Validate one row or raise :class:`RowRejected` with the reason code."""
    if not _CODE.match(row["code"]):
        raise RowRejected("code must be 2-32 of A-Z, 0-9, _ and -.", code="code_invalid")
    for column in REQUIRED[1:]:
        value = row[column]
        if not value or len(value) > 120 or not value.isprintable():
            raise RowRejected(f"{column} is empty, too long or not printable.", code="text_invalid")
    fixed = _fen(row["amount_fen"], "amount_fen")
    low, high = _fen(row["min_fen"], "min_fen"), _fen(row["max_fen"], "max_fen")
    if fixed is not None and (low is not None or high is not None):
        raise RowRejected(
            "Give amount_fen or a min_fen/max_fen range, not both.", code="amount_invalid"
        )
    if fixed is None and (low is None or high is None or low > high):
        raise RowRejected("Give amount_fen, or min_fen <= max_fen.", code="amount_invalid")
    try:
        level = Level(row["level"] or Level.LIGHT)
    except ValueError:
        raise RowRejected(
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
    progress: Callable[[RowOutcome], None] | None = None,
) -> RowCounts:
    """Import every row, one transaction each; failures are collected, never raised."""
    seen: set[str] = set()

    def step(row: dict[str, str]) -> str:
        item = parse_item(row)
        refuse_repeat(seen, item.code, "code")
        with database.transaction() as session:
            return upsert_item(session, item)

    return walk_rows(rows, step, RowCounts(), progress)
