"""Registry import at scale: ``flask registry import`` on generated records (not a test).

Generates ``--records`` rows (default 10,000), each with its own synthetic ID number and one of
``--photo-variants`` distinct JPEGs (the sample photos of people who pass the reference gates,
randomly cropped, brightened and re-encoded), then runs the real CLI as a subprocess against a
fresh PostgreSQL database of its own (``wangzheng_import_bench`` on ``BENCH_PG``):
1. the baseline, as the import ran before issue 14: one process, one transaction per row
   (``--workers 1 --batch 1``), on the first ``--baseline-records`` rows;
2. ``--workers N --batch 64`` on every row, into another fresh database.
Prints photos/s of both and their ratio, and the projection for 19 million records on a 32-core
machine assuming the per-worker rate holds (the parent, which seals and writes, is timed too).
Last line:
``import_bench baseline_per_s=... workers=N per_s=... ratio=... projected_19m_32c_h=...``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo.photos import fetch_sample_photos  # noqa: E402
from bot.identity.idnumber import make_id_number  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DB_NAME = "wangzheng_import_bench"
PEOPLE = ("obama.jpg", "obama3.jpg", "biden.jpg")  # pass the reference gates whatever the crop


def variants(count: int, folder: Path) -> list[str]:
    """``count`` distinct JPEGs made from the sample photos; their file names."""
    from PIL import Image, ImageEnhance

    samples = fetch_sample_photos(ROOT / ".cache" / "testdata")  # the turn frames' folder
    rng = random.Random(14)
    names = []
    for index in range(count):
        still = samples / PEOPLE[index % len(PEOPLE)]
        with Image.open(io.BytesIO(still.read_bytes())) as image:
            rgb = image.convert("RGB")
        width, height = rgb.size
        cut = rng.uniform(0.0, 0.06)
        box = (int(width * cut), int(height * cut), int(width * (1 - cut)), int(height * (1 - cut)))
        out = ImageEnhance.Brightness(rgb.crop(box)).enhance(rng.uniform(0.9, 1.1))
        name = f"p{index:04d}.jpg"
        out.save(folder / name, "JPEG", quality=rng.randint(85, 95))
        names.append(name)
    return names


def write_csv(path: Path, names: list[str], records: int) -> None:
    """``records`` rows with distinct valid ID numbers."""
    expiry = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650)).isoformat()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "photo", "expires_on"])
        for index in range(records):
            birth = dt.date(1950, 1, 1) + dt.timedelta(days=index // 500)
            number = make_id_number("440106", birth, index % 500 + 1)
            writer.writerow([number, f"测试{index}", names[index % len(names)], expiry])


def fresh_database(name: str) -> str:
    """A new, migrated database; its URL."""
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{PG}/{name}"


def run_import(csv_path: Path, photos: Path, workers: int, batch: int, db: str,
               instance: Path) -> tuple[float, str]:  # fmt: skip
    """Run the CLI; (photos per second, summary line)."""
    env = {**os.environ, "WANGZHENG_ENV": "development", "WANGZHENG_INSTANCE_PATH": str(instance),
           "WANGZHENG_DATABASE_URL": fresh_database(db), "WANGZHENG_LOG_LEVEL": "WARNING",
           "WANGZHENG_FACE_MODEL_ROOT": str(ROOT / ".cache" / "face")}  # fmt: skip
    flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*flask, "registry", "import", str(csv_path), "--photos", str(photos),
         "--workers", str(workers), "--batch", str(batch)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if line.startswith("created=")]
    if not summary:  # exit 1 only says some rows failed; the summary line counts them
        raise SystemExit(f"import failed: {done.stdout[-500:]} {done.stderr[-2000:]}")
    embedded = int(re.search(r"photos=(\d+)", summary[-1]).group(1))  # type: ignore[union-attr]
    return embedded / wall, summary[-1]


def main() -> None:
    """Generate, run both imports, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--baseline-records", type=int, default=500)
    parser.add_argument("--photo-variants", type=int, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    photos = work / "photos"
    photos.mkdir()
    names = variants(args.photo_variants, photos)
    full, sample = work / "records.csv", work / "baseline.csv"
    write_csv(full, names, args.records)
    write_csv(sample, names, min(args.records, args.baseline_records))
    load = os.getloadavg()
    print(f"machine: nproc={os.cpu_count()} load={load[0]:.1f} records={args.records} "
          f"photo variants={len(names)} workers={args.workers}")  # fmt: skip
    base_rate, base_line = run_import(sample, photos, 1, 1, DB_NAME, work / "instance")
    print(f"baseline (--workers 1 --batch 1, {min(args.records, args.baseline_records)} rows): "
          f"{base_rate:.1f} photos/s; {base_line}")  # fmt: skip
    rate, line = run_import(full, photos, args.workers, 64, DB_NAME, work / "instance")
    print(f"--workers {args.workers} --batch 64 ({args.records} rows): {rate:.1f} photos/s; {line}")
    per_worker = rate / args.workers
    hours = 19_000_000 / (per_worker * 32) / 3600
    print(
        f"projection: 19,000,000 records on 32 cores at {per_worker:.1f} photos/s per worker "
        f"= {hours:.1f} h (if the per-worker rate holds; the parent's share is in the summary)"
    )
    print(f"import_bench baseline_per_s={base_rate:.1f} workers={args.workers} per_s={rate:.1f} "
          f"ratio={rate / base_rate:.2f} projected_19m_32c_h={hours:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
