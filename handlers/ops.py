"""Operations endpoints: liveness, readiness and Prometheus metrics.

Invariants:
- ``/readyz`` answers within ``WANGZHENG_READINESS_TIMEOUT_MS`` (plus scheduling), whatever a
  dependency does: checks run on a small per-process pool of threads and one still running at
  the deadline is reported ``{"ok": false, "error": "timeout"}``; the answer is then 503 with
  ``Retry-After``, and the body names every check that failed. A stuck check is itself bounded
  by the dependency timeouts (``storage.bounded``, the Redis socket timeout), so stuck threads
  cannot pile up.
- With ``WANGZHENG_METRICS_TOKEN`` set, ``/metrics`` answers only ``Authorization: Bearer
  <token>`` (:data:`handlers.auth.metrics_auth`, constant time). Without it, ``/metrics`` is
  open in development and testing and not served at all (404) in production.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import Flask, Response, current_app
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


_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}  # per process (a fork does not inherit threads)


def _pool() -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(4, thread_name_prefix="readyz")
        return pool


def _in_context(app: Flask, check: Any) -> dict[str, Any]:
    with app.app_context():
        return _run(check)


def run_checks(checks: dict[str, Any], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Every check's result; a check still running after ``timeout_s`` in all is a failure."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    futures: dict[str, Future[dict[str, Any]]] = {
        name: _pool().submit(_in_context, app, check) for name, check in checks.items()
    }
    deadline = time.monotonic() + timeout_s
    results: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            results[name] = {"ok": False, "error": "timeout", "ms": round(timeout_s * 1000, 1)}
    return results


@ops.get("/readyz")
@ops.output(ReadyOut, description="ready: every check passed")
@ops.doc(summary="Every dependency is ready", responses=NOT_READY)
def readyz() -> tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]:
    """200 when every check passes, else 503 (with Retry-After); the body shows each check."""
    checks = {"database": _database_check, "store": _store_check, **readiness_checks()}
    results = run_checks(checks, settings().readiness_timeout_ms / 1000)
    ready = all(item["ok"] for item in results.values())
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    if ready:
        return body, 200
    return body, 503, {"Retry-After": "1"}


@ops.get("/metrics")
@ops.doc(hide=True)
def metrics() -> Response:
    """Prometheus exposition format, behind the metrics token when one is configured."""
    config = settings()
    if config.metrics_token:
        metrics_auth.require()
    elif config.is_production:
        raise NotFound("Metrics are served only with WANGZHENG_METRICS_TOKEN set.")
    payload, content_type = metrics_payload(current_app)
    return Response(payload, mimetype=content_type.split(";")[0])
