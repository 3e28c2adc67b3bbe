"""The essential work of a verification on the project's mandated stack, with none of verify's
own logic (used by ``bench/verify_bench.py``, phase ``stack floor``). Not part of the service.

The same work as ``bench/verify_floor_app.py`` (a constant-time key check, one ES256 check with
PyJWT, one Redis ``SET NX``, one indexed SELECT and one INSERT: 3 round trips), but written the
way the stack prescribes (the developers' guide: APIFlask with pydantic, SQLAlchemy):

- an APIFlask view with a pydantic input model and a pydantic output model (validated), and
  APIFlask's ``HTTPTokenAuth`` for the bearer key;
- the database through :class:`storage.db.Database` (the app's engine, pool and bounded waits),
  in one :meth:`~storage.db.Database.pipelined` session, with the SELECT and the INSERT as
  :class:`storage.prepared.Prepared` Core statements, exactly as verify runs its own.

No judgement, no audit MAC, no pseudonym, no events, no observability hooks, no error
handlers. Its req/s over the bare endpoint's is the highest ``ratio_to_bare`` a verify written
on this stack can reach on this machine: the distance from ``floor`` is what the frameworks
cost, the distance to verify what verify's own code costs.

``GET /healthz`` answers 200 once a worker runs (the bench's start-up probe). Environment as
for ``bench/verify_floor_app.py``: ``FLOOR_DATABASE_URL``, ``FLOOR_REDIS_URL``, ``FLOOR_JWK``,
``FLOOR_KEY``, ``FLOOR_CREDENTIALS``, and ``FLOOR_APP_ROOT`` (the checkout whose ``storage``
package is used).
"""

from __future__ import annotations

import hmac
import os
import random
import secrets
import sys
from pathlib import Path
from typing import Any, Literal

import jwt
import redis
from apiflask import APIFlask, HTTPTokenAuth
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
)

# The storage layer of the checkout under measurement (``BENCH_APP_ROOT``), else this one.
sys.path.insert(0, os.environ.get("FLOOR_APP_ROOT") or str(Path(__file__).resolve().parent.parent))

from storage.db import Database
from storage.prepared import Prepared

app = APIFlask(__name__, spec_path=None, docs_path=None)
auth = HTTPTokenAuth()
_KEY = jwt.PyJWK.from_json(os.environ["FLOOR_JWK"], algorithm="ES256")
_BEARER = os.environ["FLOOR_KEY"]
_REDIS = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])
_CREDENTIALS = int(os.environ["FLOOR_CREDENTIALS"])
_DATABASE = Database(os.environ["FLOOR_DATABASE_URL"])

_metadata = MetaData()
_credentials = Table(
    "credentials", _metadata,
    Column("id", String, primary_key=True), Column("status", String),
    Column("device_id", String), Column("expires_at", DateTime(timezone=True)),
    Column("level", String),
)  # fmt: skip
_essential = Table(
    "bench_essential", _metadata, Column("mark", String), Column("at", DateTime(timezone=True))
)
_SELECT = Prepared(
    select(
        _credentials.c.status, _credentials.c.device_id, _credentials.c.expires_at,
        _credentials.c.level,
    ).where(_credentials.c.id == bindparam("credential_id"))
)  # fmt: skip
_INSERT = Prepared(insert(_essential).values(at=func.now()))


class FloorIn(BaseModel):
    """The token, as verify's input model takes it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    token: str = Field(min_length=1, max_length=1024)


class FloorOut(BaseModel):
    """``valid`` and the credential's level."""

    result: Literal["valid"]
    level: str | None


def _authenticate(token: str) -> str | None:
    return "bench" if hmac.compare_digest(token.encode(), _BEARER.encode()) else None


auth.verify_token(_authenticate)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Ready (for the bench's start-up probe, as on the app)."""
    return {"status": "ok"}


@app.post("/floor")
@app.auth_required(auth)
@app.input(FloorIn, arg_name="body")
@app.output(FloorOut)
def floor(body: FloorIn) -> dict[str, Any]:
    """The essential work; ``{"result": "valid", "level"}`` or 401."""
    jwt.decode(body.token, _KEY, algorithms=["ES256"], options={"verify_exp": False})
    mark = secrets.token_hex(16)
    _REDIS.set("wz:floor:" + mark, "1", px=60_000, nx=True)
    index = random.randrange(_CREDENTIALS)
    with _DATABASE.pipelined() as session:
        rows = _SELECT.rows(session, {"credential_id": f"c-bench-{index:07d}"})
        _INSERT.queue(session, {"mark": mark})
    return {"result": "valid", "level": rows[0][3] if rows else None}
