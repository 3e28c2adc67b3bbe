"""Operations endpoints: liveness, readiness and Prometheus metrics.

Invariant: with ``WANGZHENG_METRICS_TOKEN`` set, ``/metrics`` answers only
``Authorization: Bearer <token>`` (:data:`handlers.auth.metrics_auth`, constant time). Without
it, ``/metrics`` is open in development and testing and not served at all (404) in production.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import Response
from pydantic import ConfigDict

from bot.errors import NotFound
from bot.extensions import database, readiness_checks, settings, store
from bot.observability import metrics_payload
from handlers.auth import metrics_auth
from handlers.schemas import Out

ops = APIBlueprint("ops", __name__, tag="Operations")


class HealthOut(Out):
    """The process answers."""

    status: Literal["ok"]


class CheckOut(Out):
    """One readiness check: ``ok``, its time, and what it found (or the exception's name)."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    ms: float
    error: str | None = None
    backend: str | None = None


class ReadyOut(Out):
    """Every check; ``ready`` only when all pass."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckOut]


NOT_READY: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    503: {
        "description": "not_ready: at least one check failed (the body shows which)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReadyOut"}}},
    }
}


@ops.get("/healthz")
@ops.output(HealthOut)
@ops.doc(summary="The process is alive")
def healthz() -> dict[str, str]:
    """Always 200 while the process can answer."""
    return {"status": "ok"}


def _run(check: Any) -> dict[str, Any]:
    """Run one check, timing it; any exception marks it failed without leaking details."""
    started = time.perf_counter()
    try:
        detail = check() or {}
        result: dict[str, Any] = {"ok": True, **detail}
    except Exception as exc:  # noqa: BLE001 - a readiness probe reports, it does not raise
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database_check() -> dict[str, Any]:
    from sqlalchemy import text

    db = database()
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"backend": db.dialect}


def _store_check() -> dict[str, Any]:
    backend = store()
    backend.ping()
    return {"backend": backend.backend}


@ops.get("/readyz")
@ops.output(ReadyOut, description="ready: every check passed")
@ops.doc(summary="Every dependency is ready", responses=NOT_READY)
def readyz() -> tuple[dict[str, Any], int]:
    """200 when every check passes, else 503; the body shows each check."""
    checks = {"database": _database_check, "store": _store_check, **readiness_checks()}
    results = {name: _run(check) for name, check in checks.items()}
    ready = all(item["ok"] for item in results.values())
    return {"status": "ready" if ready else "not_ready", "checks": results}, 200 if ready else 503


@ops.get("/metrics")
@ops.doc(hide=True)
def metrics() -> Response:
    """Prometheus exposition format, behind the metrics token when one is configured."""
    config = settings()
    if config.metrics_token:
        metrics_auth.require()
    elif config.is_production:
        raise NotFound("Metrics are served only with WANGZHENG_METRICS_TOKEN set.")
    payload, content_type = metrics_payload()
    return Response(payload, mimetype=content_type.split(";")[0])
