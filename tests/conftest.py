"""Shared fixtures: ``app``, ``client``, ``runner`` with a clean database and store per test.

Backends: SQLite and the SQL store by default. When ``WANGZHENG_TEST_DATABASE_URL`` (PostgreSQL)
and ``WANGZHENG_TEST_REDIS_URL`` are set, the ``database_url``/``store_kind`` fixtures are
parametrised over those as well, and on CI (``CI=true``) they are required, never skipped.
Every test that uses a storage fixture is marked ``storage``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot import create_app
from bot.extensions import database
from bot.extensions import store as app_store
from storage.db import Database, normalise_url
from storage.ephemeral import EphemeralStore
from storage.models import Base
from storage.models.audit_chain import GENESIS_ROW
from tests.device_keys import proven_session

# WANGZHENG_ENV unset means production; the suite runs in testing mode, whatever the shell says.
os.environ["WANGZHENG_ENV"] = "testing"
# Shared fixtures: real photos (session-wide) and the WeChat emulator with an app wired to it;
# tests.openapi_check checks every answer of every test against /openapi.json (autouse); the
# browser tests' live servers, the counter check's holder and key, the enrolment registry, and
# the configuration tests' clean environment.
pytest_plugins = [
    "tests.photos",
    "tests.wechat_support",
    "tests.payments_support",
    "tests.openapi_check",
    "tests.handlers.browser_support",
    "tests.handlers.counter_support",
    "tests.handlers.enrol_steps",
    "tests.bot.config_env",
]

PG_URL = os.environ.get("WANGZHENG_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("WANGZHENG_TEST_REDIS_URL", "")
ON_CI = os.environ.get("CI", "").lower() == "true"
STORAGE_FIXTURES = {
    "app",
    "client",
    "runner",
    "db",
    "database_url",
    "store",
    "store_kind",
    "make_app",
}


def _database_params() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def _store_params() -> list[str]:
    return ["sql", "redis"] if REDIS_URL else ["sql"]


def _other_than_production_pair(item: pytest.Item) -> bool:
    """A ``production_pair`` test parametrised with anything but PostgreSQL and Redis."""
    if not item.get_closest_marker("production_pair"):
        return False
    params = getattr(getattr(item, "callspec", None), "params", {})
    return (params.get("database_url"), params.get("store_kind")) != ("postgresql", "redis")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every storage-dependent test, so CI can rerun exactly those on PostgreSQL/Redis;
    deselect (never skip: skips fail CI) ``production_pair`` tests on other backends."""
    deselected = [item for item in items if _other_than_production_pair(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not _other_than_production_pair(item)]
    for item in items:
        if item.get_closest_marker("single_backend"):
            continue
        if STORAGE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.storage)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI a skipped test is a failure: every backend must really run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if ON_CI and skipped and reporter is not None:
        reporter.write_line(f"CI: {skipped} test(s) skipped; skips are failures on CI.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def pg_schema_ready() -> bool:
    """Create the PostgreSQL tables once per session (each test truncates them)."""
    if not PG_URL:
        return False
    database = Database(PG_URL)
    Base.metadata.drop_all(database.engine)
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    Base.metadata.create_all(database.engine)
    database.dispose()
    return True


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated-by-metadata database for one test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        database = Database(url)
        Base.metadata.create_all(database.engine)
        database.dispose()
        yield url
        return
    request.getfixturevalue("pg_schema_ready")
    url = normalise_url(PG_URL)
    database = Database(url)
    Base.metadata.create_all(database.engine)  # a test may have dropped one
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text(GENESIS_ROW))  # the audit chain's head row, as create_all makes it
    database.dispose()
    yield url


@pytest.fixture(params=_store_params())
def store_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """``sql`` or ``redis``; a Redis store starts from an empty test database."""
    if request.param == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        yield REDIS_URL
        return
    yield ""


@pytest.fixture
def app_config(database_url: str, store_kind: str, tmp_path: Path) -> dict[str, Any]:
    """Settings overrides for a test app; tests may extend it before ``app`` is built."""
    return {
        "env": "testing",
        "instance_path": tmp_path / "instance",
        "database_url": database_url,
        "redis_url": store_kind,
        "log_level": "DEBUG",
        # The shared test machine is loaded and some tests race 50 threads on one row lock; the
        # 1.5 s default (fail fast) is exercised by tests/storage/test_dependency_hangs.py.
        "database_statement_timeout_ms": 10_000,
        "admin_key": "test-admin-key-" + "x" * 32,
    }


@pytest.fixture
def production_config() -> dict[str, Any]:
    """Overrides that make a valid production app (strong secrets, non-emulator WeChat)."""
    key = base64.b64encode(b"k" * 32).decode()
    return {
        "env": "production",
        "admin_key": "a" * 40,
        "data_key": key,
        "hash_key": key,
        "merchant_key_pepper": key,
        "audit_key": key,
        "wechat_app_id": "wx0123456789abcdef",
        "wechat_app_secret": "real-secret",
        "wechat_token": "real-token",
    }


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """``make_app(**overrides)``: an app on this test's database and store with other settings.

    For the tests that need a special app (production, a proxy in front...); an override of
    ``None`` removes that key, so the environment decides it.
    """
    built: list[Any] = []

    def _make(**overrides: Any) -> Any:
        merged = {**app_config, **overrides}
        application = create_app({k: v for k, v in merged.items() if v is not None})
        built.append(application)
        return application

    yield _make
    for application in built:
        database(application).dispose()


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    """A fresh app on a clean database and store."""
    application = create_app(app_config)
    yield application
    database(application).dispose()


@pytest.fixture
def client(app: Any) -> Any:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def db(app: Any) -> Database:
    """The app's database."""
    return database(app)


@pytest.fixture
def store(app: Any) -> EphemeralStore:
    """The app's short-lived store."""
    return app_store(app)


@pytest.fixture
def login(app: Any, db: Database) -> Any:
    """``login(openid, device_id)`` opens a mini-program session directly (no WeChat round trip),
    as a sign-in that proved its device key would (``tests.device_keys.proven_session``)."""
    from bot.devices.sessions import SessionTokens

    def _login(openid: str = "o-test-citizen", device_id: str = "device-1") -> SessionTokens:
        with db.transaction() as session:
            tokens: SessionTokens = proven_session(session, openid=openid, device_id=device_id)
            return tokens

    return _login


@pytest.fixture
def unproven_login(app: Any, db: Database) -> Any:
    """``unproven_login(openid, device_id)``: a session whose login proved no device key."""
    from bot.devices.sessions import SessionTokens, open_session

    def _login(openid: str = "o-test-citizen", device_id: str = "device-1") -> SessionTokens:
        with db.transaction() as session:
            return open_session(session, openid=openid, unionid=None, device_id=device_id)

    return _login
