"""``flask registry import --workers N`` killed with SIGKILL mid-run resumes without duplicates.

The import runs in a child process (its own session, two spawned embedding workers, batches of
four rows); once its first batch has committed, the whole process group is killed. Running the
same import again must skip every committed row without embedding it, import the rest, and end
with each person exactly once, each with one embedding.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.identity.idnumber import make_id_number
from storage.models.reference_embedding import ReferenceEmbedding
from storage.models.registry_record import RegistryRecord

pytestmark = pytest.mark.face

ROOT = Path(__file__).resolve().parents[3]
ROWS = 16
BATCH = 4
EXPIRY = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650)).isoformat()
CHILD = r"""
import json, sys
from bot import create_app
config, args = json.loads(sys.argv[1])
result = create_app(config).test_cli_runner().invoke(args=args)
print(result.output)
"""


def _records(db: Any) -> tuple[int, int, int]:
    with db.transaction() as session:
        records = session.scalar(select(func.count()).select_from(RegistryRecord)) or 0
        people = session.scalar(select(func.count(func.distinct(RegistryRecord.id_hash)))) or 0
        vectors = session.scalar(select(func.count()).select_from(ReferenceEmbedding)) or 0
    return records, people, vectors


def _summary(output: str) -> dict[str, str]:
    line = [x for x in output.splitlines() if x.startswith("created=")][-1]
    return dict(part.split("=") for part in line.split())


def test_a_killed_import_resumes_where_it_stopped(
    app: Any, db: Any, runner: Any, photos: dict[str, bytes], app_config: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "obama.jpg").write_bytes(photos["obama"])
    (folder / "biden.jpg").write_bytes(photos["biden"])
    csv_path = tmp_path / "records.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "photo", "expires_on"])
        for index in range(ROWS):
            number = make_id_number("110101", dt.date(1970, 1, 1), 100 + index)
            writer.writerow([number, f"人{index}", ("obama.jpg", "biden.jpg")[index % 2], EXPIRY])
    args = ["registry", "import", str(csv_path), "--photos", str(folder),
            "--workers", "2", "--batch", str(BATCH)]  # fmt: skip
    config = {key: str(value) for key, value in app_config.items()}
    child = subprocess.Popen(  # our own interpreter and script
        [sys.executable, "-c", CHILD, json.dumps([config, args])],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while _records(db)[0] < BATCH and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)  # the import and its embedding workers
    child.wait(timeout=30)
    committed = _records(db)[0]
    assert child.returncode == -signal.SIGKILL
    assert committed % BATCH == 0 and BATCH <= committed < ROWS  # whole batches, mid-run

    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    summary = _summary(result.output)
    assert int(summary["unchanged"]) == committed  # skipped before any embedding
    assert int(summary["created"]) == int(summary["photos"]) == ROWS - committed
    assert _records(db) == (ROWS, ROWS, ROWS)  # everyone once, one embedding each
