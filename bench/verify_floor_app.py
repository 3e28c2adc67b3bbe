"""The essential work of a verification inside a minimal Flask view (used by
``bench/verify_bench.py``, phase ``floor``). Not part of the service.

``GET /healthz`` answers 200 once a worker runs (the bench's start-up probe). ``POST /floor``
with ``Authorization: Bearer <key>`` and ``{"token": ...}``: the key compared in constant time,
one ES256 check of the token (PyJWT, allow-list and key as verify uses them), one Redis
``SET NX`` of a fresh mark, one indexed SELECT of a credential's status columns and one INSERT
that commits on its own: 3 round trips, as verify makes. Plain Flask, one psycopg
connection per thread, no ORM, no schema validation, no audit MAC, no events, no logging.

Served by gunicorn with the same worker class, workers and threads as the app, its req/s over
the bare endpoint's is the highest ``ratio_to_bare`` the stack allows on this machine for this
work: what verify's own code costs is the distance from it.

Environment: ``FLOOR_DATABASE_URL``, ``FLOOR_REDIS_URL``, ``FLOOR_JWK`` (the public JWK),
``FLOOR_KEY`` (the bearer key), ``FLOOR_CREDENTIALS`` (how many seeded credentials).
"""

from __future__ import annotations

import hmac
import os
import random
import secrets
import threading
from typing import Any

import jwt
import psycopg
import redis
from flask import Flask, jsonify, request

app = Flask(__name__)
_KEY = jwt.PyJWK.from_json(os.environ["FLOOR_JWK"], algorithm="ES256")
_BEARER = "Bearer " + os.environ["FLOOR_KEY"]
_REDIS = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
_CREDENTIALS = int(os.environ["FLOOR_CREDENTIALS"])
_local = threading.local()


def _connection() -> psycopg.Connection[Any]:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = psycopg.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True)
    return conn


@app.get("/healthz")
def healthz() -> Any:
    """Ready (for the bench's start-up probe, as on the app)."""
    return jsonify(status="ok")


@app.post("/floor")
def floor() -> Any:
    """The essential work; ``{"result": "valid"}`` or 401."""
    if not hmac.compare_digest(request.headers.get("Authorization", ""), _BEARER):
        return jsonify(error="unauthenticated"), 401
    token = request.get_json()["token"]
    jwt.decode(token, _KEY, algorithms=["ES256"], options={"verify_exp": False})
    mark = secrets.token_hex(16)
    _REDIS.set("wz:floor:" + mark, "1", px=60_000, nx=True)
    conn = _connection()
    index = random.randrange(_CREDENTIALS)
    row = conn.execute(
        "SELECT status, device_id, expires_at, level FROM credentials WHERE id = %s",
        (f"c-bench-{index:07d}",),
        prepare=True,
    ).fetchone()
    conn.execute("INSERT INTO bench_essential (mark, at) VALUES (%s, now())", (mark,), prepare=True)
    return jsonify(result="valid", level=row[3] if row else None)
