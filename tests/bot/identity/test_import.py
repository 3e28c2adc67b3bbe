"""``flask registry import`` and ``reembed`` with the real face engine on real photos."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.face.service import get_engine
from bot.identity.idnumber import make_id_number
from bot.identity.registry import find_record, name_matches, record_id_number, reference_embedding
from storage.models.reference_embedding import ReferenceEmbedding
from storage.models.registry_record import RegistryRecord
from tests.registry_factories import settings_of

pytestmark = pytest.mark.face

OBAMA = make_id_number("110101", dt.date(1961, 8, 4), 11)
BIDEN = make_id_number("310104", dt.date(1942, 11, 20), 13)
EXPIRY = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650)).isoformat()


def _blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, "JPEG")
    return buffer.getvalue()


def _write(tmp_path: Path, photos: dict[str, bytes], rows: list[list[str]]) -> tuple[Path, Path]:
    folder = tmp_path / "photos"
    folder.mkdir(exist_ok=True)
    (folder / "obama.jpg").write_bytes(photos["obama"])
    (folder / "biden.jpg").write_bytes(photos["biden"])
    (folder / "group.jpg").write_bytes(photos["group"])
    (folder / "blank.jpg").write_bytes(_blank_jpeg())
    (tmp_path / "secret.jpg").write_bytes(photos["obama"])
    path = tmp_path / "records.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "photo", "expires_on"])
        writer.writerows(rows)
    return path, folder


GOOD = [[OBAMA, "奥巴马", "obama.jpg", EXPIRY], [BIDEN, "拜登", "biden.jpg", EXPIRY]]
BAD = [
    [OBAMA[:-1] + ("0" if OBAMA[-1] != "0" else "1"), "坏校验", "obama.jpg", EXPIRY],
    [make_id_number("110101", dt.date(1970, 1, 1), 21), "无照片", "missing.jpg", EXPIRY],
    [make_id_number("110101", dt.date(1970, 1, 1), 31), "无人脸", "blank.jpg", EXPIRY],
    [make_id_number("110101", dt.date(1970, 1, 1), 41), "多人", "group.jpg", EXPIRY],
    [make_id_number("110101", dt.date(1970, 1, 1), 51), "越界", "../secret.jpg", EXPIRY],
    [make_id_number("110101", dt.date(1970, 1, 1), 61), "坏日期", "obama.jpg", "2030-02-30"],
    [OBAMA, "重复", "obama.jpg", EXPIRY],
]


def _summary(output: str) -> dict[str, str]:
    line = [x for x in output.splitlines() if x.startswith("created=")][-1]
    return dict(part.split("=") for part in line.split())


def test_import_reports_every_bad_row_and_is_idempotent(
    app: Any, db: Any, runner: Any, tmp_path: Path, photos: dict[str, bytes]
) -> None:
    csv_path, folder = _write(tmp_path, photos, GOOD + BAD)
    first = runner.invoke(args=["registry", "import", str(csv_path), "--photos", str(folder)])
    assert first.exit_code == 1
    summary = _summary(first.output)
    assert (summary["created"], summary["failed"], summary["photos"]) == ("2", "7", "2")
    reasons = {
        int(line.split()[1].rstrip(":")): line.split()[2].rstrip(":")
        for line in first.output.splitlines()
        if line.startswith("line ")
    }
    assert reasons == {
        4: "id_number_invalid",
        5: "photo_missing",
        6: "face_not_found",
        7: "face_multiple",
        8: "photo_path_invalid",
        9: "expiry_invalid",
        10: "duplicate_row",
    }
    assert OBAMA not in first.output and "奥巴马" not in first.output
    print(f"import rate: {summary['photos_per_s']} photos/s")

    again = runner.invoke(args=["registry", "import", str(csv_path), "--photos", str(folder)])
    assert _summary(again.output)["unchanged"] == "2" and _summary(again.output)["created"] == "0"

    changed, _ = _write(
        tmp_path,
        photos,
        [[OBAMA, "奥巴马", "obama.jpg", EXPIRY], [BIDEN, "拜登新", "biden.jpg", EXPIRY]],
    )
    third = runner.invoke(args=["registry", "import", str(changed), "--photos", str(folder)])
    assert third.exit_code == 0, third.output
    assert (_summary(third.output)["updated"], _summary(third.output)["unchanged"]) == ("1", "1")

    settings = settings_of(app)
    engine = get_engine(settings)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RegistryRecord)) == 2
        record = find_record(session, settings, OBAMA)
        assert record is not None and record_id_number(settings, record) == OBAMA
        assert name_matches(settings, record, " 奥巴马 ") and not name_matches(
            settings, record, "拜登"
        )
        assert record.sex == "M" and record.birth_date == dt.date(1961, 8, 4)
        reference = reference_embedding(session, record.id, engine.pack_id)
        assert reference is not None and abs(float(np.linalg.norm(reference)) - 1) < 1e-4
        for column in ("id_number_sealed", "name_sealed", "photo_sealed"):
            assert OBAMA.encode() not in getattr(record, column)
    same_person = engine.analyse(photos["obama2"], purpose="reference").embedding
    other_person = engine.analyse(photos["biden"], purpose="reference").embedding
    assert engine.match(reference, same_person).decision
    assert not engine.match(reference, other_person).decision


def test_reembed_recomputes_for_the_active_pack(
    db: Any, runner: Any, tmp_path: Path, photos: dict[str, bytes]
) -> None:
    csv_path, folder = _write(tmp_path, photos, GOOD)
    assert (
        runner.invoke(args=["registry", "import", str(csv_path), "--photos", str(folder)]).exit_code
        == 0
    )
    with db.transaction() as session:
        session.query(ReferenceEmbedding).delete()
    result = runner.invoke(args=["registry", "reembed"])
    assert result.exit_code == 0, result.output
    assert _summary(result.output)["updated"] == "2"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ReferenceEmbedding)) == 2


def test_bad_csv_header_is_refused(app: Any, runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    result = runner.invoke(args=["registry", "import", str(path), "--photos", str(tmp_path)])
    assert result.exit_code == 1 and "id_number" in result.output
