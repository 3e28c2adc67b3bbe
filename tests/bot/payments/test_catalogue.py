"""``flask payments items import``: idempotent, reports every bad row, stores nothing of one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.payments.catalogue import DEMO_CATALOGUE, read_catalogue
from storage.db import Database
from storage.models.payment_item import PaymentItem

HEADER = "code,name,agency,city,amount_fen,min_fen,max_fen,level\n"


def _count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(PaymentItem)) or 0)


def test_demo_catalogue_imports_once_then_is_unchanged(runner: Any, db: Database) -> None:
    rows = len(read_catalogue(DEMO_CATALOGUE))
    first = runner.invoke(args=["payments", "items", "import"])
    assert first.exit_code == 0, first.output
    assert f"created={rows} updated=0 unchanged=0 failed=0" in first.output
    second = runner.invoke(args=["payments", "items", "import", str(DEMO_CATALOGUE)])
    assert second.exit_code == 0
    assert f"created=0 updated=0 unchanged={rows} failed=0" in second.output
    assert _count(db) == rows
    with db.transaction() as session:
        exam = session.scalars(
            select(PaymentItem).where(PaymentItem.code == "GD-GAOKAO-EXAM")
        ).one()
        assert (exam.fixed_fen, exam.min_fen, exam.max_fen) == (16000, None, None)
        assert isinstance(exam.fixed_fen, int)


def test_every_bad_row_is_reported_and_the_good_ones_land(
    runner: Any, db: Database, tmp_path: Path
) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text(
        HEADER
        + "OK-FIXED,考试费,某考试院,广州,5000,,,light\n"  # line 2: good
        + "BAD-FLOAT,学费,某局,广州,12.50,,,light\n"  # 3: fen are integers
        + "BAD-RANGE,学费,某局,广州,,900,100,light\n"  # 4: min > max
        + "BAD-BOTH,学费,某局,广州,100,50,200,light\n"  # 5: fixed and range
        + "bad code!,学费,某局,广州,100,,,light\n"  # 6
        + "BAD-LEVEL,学费,某局,广州,100,,,gold\n"  # 7
        + "OK-FIXED,考试费,某考试院,广州,5000,,,light\n"  # 8: repeats line 2
        + "OK-RANGE,住宿费,某局,深圳,,100,900,upgraded\n",  # 9: good
        encoding="utf-8",
    )
    result = runner.invoke(args=["payments", "items", "import", str(csv)])
    assert result.exit_code == 1
    for line, reason in [
        (3, "amount_invalid"),
        (4, "amount_invalid"),
        (5, "amount_invalid"),
        (6, "code_invalid"),
        (7, "level_invalid"),
        (8, "duplicate_row"),
    ]:
        assert f"line {line}: {reason}:" in result.output
    assert "created=2 updated=0 unchanged=0 failed=6" in result.output
    with db.transaction() as session:
        codes = set(session.scalars(select(PaymentItem.code)))
    assert codes == {"OK-FIXED", "OK-RANGE"}


def test_a_changed_row_updates_its_item(runner: Any, db: Database, tmp_path: Path) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text(HEADER + "EXAM,考试费,某考试院,广州,5000,,,light\n", encoding="utf-8")
    assert runner.invoke(args=["payments", "items", "import", str(csv)]).exit_code == 0
    csv.write_text(HEADER + "EXAM,考试费,某考试院,广州,6000,,,light\n", encoding="utf-8")
    result = runner.invoke(args=["payments", "items", "import", str(csv)])
    assert "created=0 updated=1 unchanged=0" in result.output
    with db.transaction() as session:
        assert session.scalars(select(PaymentItem.fixed_fen)).one() == 6000


def test_a_file_without_the_columns_is_refused(runner: Any, tmp_path: Path) -> None:
    csv = tmp_path / "items.csv"
    csv.write_text("code,name\nA,B\n", encoding="utf-8")
    result = runner.invoke(args=["payments", "items", "import", str(csv)])
    assert result.exit_code != 0
    assert "lacks the column(s)" in result.output


def test_agency_create_prints_a_key_once_and_refuses_a_second_of_the_same_name(
    runner: Any,
) -> None:
    result = runner.invoke(args=["payments", "agencies", "create", "广东省教育考试院"])
    assert result.exit_code == 0, result.output
    assert "api_key wza_" in result.output
    again = runner.invoke(args=["payments", "agencies", "create", "广东省教育考试院"])
    assert again.exit_code != 0
    assert "agency_exists" in again.output
