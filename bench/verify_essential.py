"""The essential work of one verification, in a plain loop (used by ``bench/verify_bench.py``).

One ES256 signature check of a real presentation token, one Redis ``SET NX``, one indexed
SELECT of a credential's status columns and one INSERT that commits on its own, with no web
framework around them. Run in as many processes as gunicorn has workers; their summed rate is
the ceiling the issue compares verify against.
"""

from __future__ import annotations

import random
import secrets
import time
from typing import Any

import jwt
import psycopg
import redis

SCRATCH = (
    "CREATE TABLE IF NOT EXISTS bench_essential "
    "(id bigserial PRIMARY KEY, mark text, at timestamptz)"
)


def prepare(url: str) -> None:
    """Create the scratch table the loop inserts into."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCRATCH)


def loop(url: str, redis_url: str, token: str, public_jwk: str, credentials: int,
         seconds: float, gate: tuple[Any, Any], out: Any) -> None:  # fmt: skip
    """Repeat the essential work for ``seconds`` once the phase starts; put the count on ``out``."""
    from verify_bench import wait_for_start

    key = jwt.algorithms.ECAlgorithm.from_jwk(public_jwk)
    client = redis.Redis.from_url(redis_url)
    done = 0
    with psycopg.connect(url, autocommit=True) as conn:
        client.ping()
        deadline = wait_for_start(gate, seconds)
        while time.perf_counter() < deadline:
            checks = {"verify_exp": False, "verify_iss": False}
            jwt.decode(token, key, algorithms=["ES256"], options=checks)
            mark = secrets.token_hex(16)
            client.set("wz:essential:" + mark, "1", px=60_000, nx=True)
            index = random.randrange(credentials)
            conn.execute(
                "SELECT status, device_id, expires_at, level FROM credentials WHERE id = %s",
                (f"c-bench-{index:07d}",),
            ).fetchone()
            conn.execute("INSERT INTO bench_essential (mark, at) VALUES (%s, now())", (mark,))
            done += 1
    out.put(done)
