"""Registry import rate and light-enrolment latency, end to end through the app.

Imports a registry of ``--records`` rows (the sample photos, cycled, each under its own synthetic
ID number) with the real ``import_records`` service and prints photos per second; then runs
``--rounds`` light enrolments over HTTP (Flask test client, SQLite, SQL store): login, liveness
challenge, and the timed ``POST /api/v1/enrollments/light`` with two real frames. The last line
is machine-readable: ``enrol_bench import_photos_per_s=... enrol_p50_ms=... enrol_p95_ms=...``.

Run: ``.venv/bin/python bench/enrol_bench.py [--records N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import create_app  # noqa: E402
from bot.demo.photos import fetch_sample_photos  # noqa: E402
from bot.identity.idnumber import make_id_number  # noqa: E402
from bot.identity.importer import import_records  # noqa: E402
from bot.identity.registry import engine_embedder  # noqa: E402
from storage.models import Base  # noqa: E402

CACHE = ROOT / ".cache"
# Real frames of one head turn (bot.demo.photos.TURN_FRAMES); each round enrols its own holder,
# since liveness refuses a turned frame already sent for the same subject.
FRAMES = {"left": ("turn_342.jpg", "turn_360.jpg"), "right": ("turn_051.jpg", "turn_018.jpg")}
HOLDER = "林晓雯"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    photos = fetch_sample_photos(CACHE / "testdata")
    workdir = Path(tempfile.mkdtemp(prefix="enrol-bench-"))
    app = create_app(
        {
            "env": "testing",
            "instance_path": workdir,
            "database_url": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "face_model_root": CACHE / "face",
            "face_liveness_steps": 1,
            "log_level": "WARNING",
            "enrol_max_failures_per_openid": 10_000,
        }
    )
    database, settings = app.extensions["wangzheng.db"], app.extensions["wangzheng.settings"]
    Base.metadata.create_all(database.engine)
    embedder = engine_embedder(settings)
    pool = ["obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg"]
    holders = [make_id_number("110101", dt.date(1990, 1, 1) + dt.timedelta(days=n), 100 + n)
               for n in range(args.rounds)]  # fmt: skip
    rows = [(2 + n, {"id_number": number, "name": HOLDER, "photo": "turn_264.jpg",
                     "expires_on": "2036-01-01"}) for n, number in enumerate(holders)]  # fmt: skip
    for index in range(1, args.records):
        number = make_id_number("310104", dt.date(1970, 1, 1) + dt.timedelta(days=index), index)
        row = {"id_number": number, "name": f"测试{index}", "photo": pool[index % len(pool)]}
        rows.append((index + 2 + args.rounds, {**row, "expires_on": "2036-01-01"}))
    report = import_records(database, settings, rows, photos, embedder)
    print(
        f"import: {report.created} records, {report.failed} failed, "
        f"{report.seconds:.2f} s, {report.photos_per_second:.1f} photos/s"
    )
    client = app.test_client()
    from bot.devices.sessions import open_session

    with database.transaction() as session:
        tokens = open_session(session, openid="o-bench", unionid=None,
                              device_id="bench-device")  # fmt: skip
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    latencies: list[float] = []
    for holder in holders:
        challenge = client.post("/api/v1/liveness/challenges", headers=headers).json
        frames = [(io.BytesIO((photos / name).read_bytes()), name)
                  for name in FRAMES[challenge["steps"][0]]]  # fmt: skip
        data = {"name": HOLDER, "id_number": holder,
                "challenge_id": challenge["challenge_id"], "frames": frames}  # fmt: skip
        started = time.perf_counter()
        response = client.post("/api/v1/enrollments/light", data=data, headers=headers,
                               content_type="multipart/form-data")  # fmt: skip
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 201, response.json
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    print(f"enrol: {args.rounds} enrolments, p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"mean {statistics.fmean(latencies):.1f} ms")  # fmt: skip
    print(f"enrol_bench import_photos_per_s={report.photos_per_second:.1f} "
          f"enrol_p50_ms={p50:.1f} enrol_p95_ms={p95:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
