"""A frozen (SIGSTOP) PostgreSQL or Redis: every request fails fast with 503, and the service
recovers by itself when the dependency thaws (SIGCONT), without a restart.

Each test starts its own PostgreSQL or redis-server (``tests.faults``) on a free port; the shared
instances are never touched. The bounds asserted are the documented ones: about 2 s for a request
(``WANGZHENG_DATABASE_STATEMENT_TIMEOUT_MS`` 1500 + 0.5 s, or the 1 s Redis socket timeout) and
the readiness timeout for ``/readyz``, each with one second of slack for a loaded machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import create_app
from bot.extensions import database
from storage.db import Database
from storage.models import Base
from tests.faults import OwnPostgres, OwnRedis, own_postgres, own_redis
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify

REQUEST_BOUND_S = 2.0 + 1.0
READINESS_TIMEOUT_MS = 500
READINESS_BOUND_S = READINESS_TIMEOUT_MS / 1000 + 1.0
Call = Callable[[], Any]


@pytest.fixture(scope="module")
def postgres() -> Iterator[OwnPostgres]:
    with own_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def redis_server() -> Iterator[OwnRedis]:
    with own_redis() as server:
        yield server


def _app(tmp_path: Path, **overrides: Any) -> Any:
    return create_app(
        {
            "env": "testing",
            "instance_path": tmp_path / "instance",
            "database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}",
            "readiness_timeout_ms": READINESS_TIMEOUT_MS,
            "admin_key": "test-admin-key-" + "x" * 32,
            **overrides,
        }
    )


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The app on our own PostgreSQL (SQL store there too) or on SQLite plus our own Redis."""
    if request.param == "postgres":
        cluster: OwnPostgres = request.getfixturevalue("postgres")
        schema = Database(cluster.url)
        Base.metadata.drop_all(schema.engine)  # a clean schema (and audit chain) per test
        Base.metadata.create_all(schema.engine)
        schema.dispose()
        application = _app(tmp_path, database_url=cluster.url)
    else:
        server: OwnRedis = request.getfixturevalue("redis_server")
        application = _app(tmp_path, redis_url=server.url)
        Base.metadata.create_all(database(application).engine)
    yield application
    database(application).dispose()


def _frozen(request: pytest.FixtureRequest) -> OwnPostgres | OwnRedis:
    name = request.node.callspec.params["app"]
    fixture = "postgres" if name == "postgres" else "redis_server"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def _timed(call: Call) -> tuple[float, Any]:
    started = time.monotonic()
    response = call()
    return time.monotonic() - started, response


def _endpoints(client: Any, access_token: str, key: str, token: str) -> dict[str, Call]:
    """Calls that need the frozen dependency, made ready while it still answers."""
    bearer = {"Authorization": f"Bearer {access_token}"}
    return {
        "verify": lambda: client.post(
            "/api/v1/verify", json={"token": token}, headers={"Authorization": f"Bearer {key}"}
        ),
        "presentation": lambda: client.post(
            "/api/v1/credentials/current/presentations", headers=bearer
        ),
        "credential": lambda: client.get("/api/v1/credentials/current", headers=bearer),
        "history": lambda: client.get("/api/v1/me/verifications", headers=bearer),
        "jwks": lambda: client.get("/.well-known/jwks.json"),
    }


@pytest.mark.parametrize("app", ["postgres", "redis"], indirect=True)
def test_frozen_dependency_is_a_fast_503_then_recovers(
    app: Any, client: Any, login: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    frozen = _frozen(request)
    citizen = enrolled(app, login)
    key = merchant_key(app)
    token = fetch_token(client, citizen.access_token)
    endpoints = _endpoints(client, citizen.access_token, key, token)
    assert client.get("/readyz").status_code == 200
    needs_store = ("verify", "presentation")  # the calls that touch Redis
    if isinstance(frozen, OwnRedis):
        endpoints = {name: call for name, call in endpoints.items() if name in needs_store}

    frozen.freeze()
    # Thaw after 10 s whatever happens, so that without the bounds this test fails, not hangs.
    safety = threading.Timer(10.0, frozen.thaw)
    safety.start()
    try:
        # Readiness first, while nothing knows yet: it answers within its own short timeout,
        # although the dependency's own bound (2 s, 1 s) is longer, and names the failed check.
        elapsed, ready = _timed(lambda: client.get("/readyz"))
        readyz_s = round(elapsed, 2)
        assert ready.status_code == 503 and elapsed < READINESS_BOUND_S, elapsed
        assert ready.headers["Retry-After"] == "1"
        checks = ready.get_json()["checks"]
        failed = "database" if isinstance(frozen, OwnPostgres) else "store"
        assert checks[failed] == {"ok": False, "error": "timeout", "ms": READINESS_TIMEOUT_MS}
        timings = {}
        for name, call in endpoints.items():
            elapsed, response = _timed(call)
            timings[name] = round(elapsed, 2)
            assert response.status_code == 503, (name, response.get_json())
            assert response.get_json()["error"]["code"] == "service_unavailable"
            assert response.headers["Retry-After"] == "1"
            assert elapsed < REQUEST_BOUND_S, (name, elapsed)
        if isinstance(frozen, OwnPostgres):
            # A worker with no pooled connection yet: the connect timeout bounds it.
            fresh = _app(tmp_path / "fresh", database_url=frozen.url)
            elapsed, response = _timed(lambda: fresh.test_client().get("/.well-known/jwks.json"))
            timings["fresh_worker_jwks"] = round(elapsed, 2)
            assert response.status_code == 503 and elapsed < REQUEST_BOUND_S, elapsed
            database(fresh).dispose()
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.get_json()["checks"]
        # With PostgreSQL frozen, the SQL store on it fails too; with Redis, only the store.
        expected = {"database": isinstance(frozen, OwnRedis), "store": False}
        assert {name: checks[name]["ok"] for name in expected} == expected, checks
        print(f"frozen {type(frozen).__name__}: readyz {readyz_s} s, requests {timings}")
    finally:
        safety.cancel()
        frozen.thaw()

    # The same app, no restart: within a few seconds every call answers again.
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "did not recover after SIGCONT"
        time.sleep(0.2)
    assert endpoints["presentation"]().status_code == 201
    # The token offered during the outage was not used up by the failed verify.
    assert verify(client, key, token)[1]["result"] == "valid"
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"
