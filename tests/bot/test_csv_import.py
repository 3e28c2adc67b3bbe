"""The CSV reading and row walk every import shares (``bot/csv_import.py``): line numbers,
refused files, and a bad row that is counted, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.csv_import import (
    CsvInvalid,
    RowCounts,
    RowOutcome,
    RowRejected,
    read_csv,
    refuse_repeat,
    walk_rows,
)

COLUMNS = ("code", "name")


def test_rows_carry_their_file_line_and_only_the_stripped_columns(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufeffcode,extra,name\n A1 ,x, 甲 \nB2,y\n".encode())
    assert read_csv(path, COLUMNS) == [
        (2, {"code": "A1", "name": "甲"}),
        (3, {"code": "B2", "name": ""}),
    ]


def test_a_missing_column_refuses_the_file_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("code,other\nA1,x\n", encoding="utf-8")
    with pytest.raises(CsvInvalid, match=r"lacks the column\(s\): name\.") as refused:
        read_csv(path, COLUMNS)
    assert refused.value.code == "csv_invalid"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("code,name\nA1,张三\n".encode("gb18030"))
    with pytest.raises(CsvInvalid, match="not valid UTF-8 CSV"):
        read_csv(path, COLUMNS)


def test_the_walk_counts_each_status_and_turns_a_rejection_into_a_failed_line() -> None:
    seen: set[str] = set()
    told: list[RowOutcome] = []

    def step(key: str) -> str | None:
        if key == "skip":
            return None
        refuse_repeat(seen, key, "key")
        return "unchanged" if key == "same" else "created"

    items = [(2, "a"), (3, "skip"), (4, "same"), (5, "a"), (6, "b")]
    report = walk_rows(items, step, RowCounts(), told.append)
    assert (report.created, report.updated, report.unchanged, report.failed) == (2, 0, 1, 1)
    assert report.failures == [
        RowOutcome(5, "failed", "duplicate_row", "The key repeats an earlier row.")
    ]
    assert [outcome.line for outcome in told] == [2, 4, 5, 6]  # the skipped item is not told
    assert report.seconds >= 0


def test_an_error_other_than_a_rejected_row_stops_the_walk() -> None:
    def step(key: str) -> str:
        if key == "broken":
            raise RuntimeError("the database went away")
        return "created"

    with pytest.raises(RuntimeError):
        walk_rows([(2, "ok"), (3, "broken"), (4, "ok")], step, RowCounts())


def test_a_rejected_row_keeps_its_own_reason_code() -> None:
    def step(_key: str) -> str:
        raise RowRejected("Photo 'x.jpg' does not exist.", code="photo_missing")

    report = walk_rows([(7, "x")], step, RowCounts())
    assert report.failures == [
        RowOutcome(7, "failed", "photo_missing", "Photo 'x.jpg' does not exist.")
    ]
