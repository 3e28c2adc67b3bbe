"""Seeding the verify bench's database at production shape (used by ``bench/verify_bench.py``).

``BENCH_CREDENTIALS`` registry records (default 100,000), each with a sealed reference photo of
``BENCH_PHOTO_KB`` (default 200 KB; random bytes, incompressible like real ciphertext, so
PostgreSQL's TOAST stores them at full size), a citizen and an active credential bound to its
device. Rows go in with binary COPY. A seeded database is kept and reused while its shape
matches (the ``bench_shape`` table), so before/after runs share one data set.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import psycopg

CREDENTIALS = int(os.environ.get("BENCH_CREDENTIALS", "100000"))
PHOTO_KB = int(os.environ.get("BENCH_PHOTO_KB", "200"))
BATCH = 2000


def shape() -> str:
    """What a seeded database holds; reseed when it changes."""
    return f"credentials={CREDENTIALS} photo_kb={PHOTO_KB} v1"


def seeded_shape(url: str) -> str:
    """The shape recorded in the database, or '' when it was never seeded."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('bench_shape') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return ""
        row = conn.execute("SELECT shape FROM bench_shape").fetchone()
        return str(row[0]) if row else ""


def openid(index: int) -> str:
    """The openid of seeded citizen ``index``."""
    return f"o-bench-{index:07d}"


def device(index: int) -> str:
    """The device id seeded citizen ``index`` is bound to."""
    return f"d-bench-{index:07d}"


def seed(url: str, sealed_name: bytes, sealed_id_number: bytes) -> None:
    """Insert the records, citizens and credentials (the schema exists and is empty)."""
    photo_bytes = PHOTO_KB * 1000
    noise = os.urandom(photo_bytes * 4)
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(days=3650)
    with psycopg.connect(url) as conn:
        for start in range(0, CREDENTIALS, BATCH):
            stop = min(CREDENTIALS, start + BATCH)
            _copy_batch(conn, range(start, stop), noise, photo_bytes, sealed_name,
                        sealed_id_number, now, expires)  # fmt: skip
            conn.commit()
        conn.execute("CREATE TABLE bench_shape (shape text)")
        conn.execute("INSERT INTO bench_shape VALUES (%s)", (shape(),))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE registry_records, citizens, credentials")


def _copy_batch(conn: Any, indexes: range, noise: bytes, photo_bytes: int, name: bytes,
                id_number: bytes, now: dt.datetime, expires: dt.datetime) -> None:  # fmt: skip
    with conn.cursor() as cur:
        columns = ("id, id_hash, id_number_sealed, name_sealed, photo_sealed, birth_date, sex, "
                   "expires_on, row_digest, created_at, updated_at")  # fmt: skip
        with cur.copy(f"COPY registry_records ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "varchar", "bytea", "bytea", "bytea", "date", "varchar",
                            "date", "varchar", "timestamptz", "timestamptz"])  # fmt: skip
            for index in indexes:
                offset = (index * 7919) % (len(noise) - photo_bytes)
                copy.write_row((
                    index + 1, f"{index:064x}", id_number, name,
                    noise[offset:offset + photo_bytes], dt.date(1990, 1, 1), "M",
                    expires.date(), "0" * 64, now, now,
                ))  # fmt: skip
        with cur.copy(
            "COPY citizens (openid, current_device_id, notify_on_verification, created_at, "
            "last_login_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["varchar", "varchar", "bool", "timestamptz", "timestamptz"])
            for index in indexes:
                copy.write_row((openid(index), device(index), False, now, now))
        with cur.copy(
            "COPY credentials (id, subject_id, level, openid, device_id, status, issued_at, "
            "expires_at) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["varchar", "int4", "varchar", "varchar", "varchar", "varchar",
                            "timestamptz", "timestamptz"])  # fmt: skip
            for index in indexes:
                copy.write_row((f"c-bench-{index:07d}", index + 1, "light", openid(index),
                                device(index), "active", now, expires))  # fmt: skip
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('registry_records', 'id'), %s)", (indexes.stop,)
    )
