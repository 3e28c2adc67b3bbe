"""Engine and session management.

Invariants:
- One operation, one transaction: :meth:`Database.transaction` commits when the block ends
  normally and rolls back on any exception, so a failed request never leaves a partial write.
- SQLite runs in WAL mode with a busy timeout and foreign keys on, so several gunicorn workers
  on one machine can share the file safely.
- PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``); the service's engine
  bounds every wait on it (``storage.bounded``), so a hung server is a quick 503, not a hang.
- PostgreSQL pools hand out the most recently used connection first (LIFO) and ping a connection
  only when it sat idle for more than :data:`PING_IF_IDLE_S`, instead of before every checkout:
  a busy service pays no round trip for it, and a connection that may have gone stale while idle
  is still checked. A ping that fails discards the connection and the pool connects afresh
  (``DisconnectionError``). A connection that breaks while in use fails its request (503) and
  invalidates the pool, so the next requests reconnect.
- Engines hide SQL parameters (``hide_parameters``): a failed statement's message and traceback
  carry the SQL text only, never the openid, device id or credential id it was bound to.
  PostgreSQL's own ``DETAIL`` lines, which quote key values, are masked by ``bot.logs``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from storage.bounded import Breaker, DatabaseTimeouts, connector
from storage.pipelined import install as install_pipelining
from storage.pipelined import pipelined_session

# Where the app keeps its Database (``bot.extensions`` sets it; ``storage.cli`` reads it, so
# storage never imports bot).
APP_EXTENSION = "wangzheng.db"
PING_IF_IDLE_S = 1.0


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Connection set-up for SQLite: WAL, busy timeout, foreign keys."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str, timeouts: DatabaseTimeouts | None = None, breaker: Breaker | None = None
) -> Engine:
    """Create an engine configured for the URL's backend; PostgreSQL waits are bounded by
    ``timeouts`` when given (the service's engine; migrations and tools pass none).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 10, "check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 10,
        "pool_use_lifo": True,
        "hide_parameters": True,
    }
    if timeouts is None:
        engine = create_engine(url, **options)
    else:
        engine = create_engine(url, pool_timeout=timeouts.pool_timeout_s, **options)
        event.listen(engine, "do_connect", connector(timeouts, breaker or Breaker()))
    _ping_when_idle(engine)
    install_pipelining(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only if it sat idle longer than PING_IF_IDLE_S."""

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= PING_IF_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("stale pooled connection") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


class Database:
    """The engine plus a session factory; one per app."""

    def __init__(self, url: str, timeouts: DatabaseTimeouts | None = None) -> None:
        self.url = normalise_url(url)
        self.breaker = Breaker()
        self.engine = make_engine(self.url, timeouts, self.breaker)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block or rolls back on error."""
        session = self.session_factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def pipelined(self) -> Iterator[Session]:
        """Like :meth:`transaction`; on PostgreSQL its commands are pipelined, and writes run
        with :data:`storage.pipelined.DEFER` travel with the commit (``storage.pipelined``)."""
        if self.dialect != "postgresql":
            with self.transaction() as session:
                yield session
            return
        with pipelined_session(self.engine, self.session_factory) as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection (after fork, at shutdown)."""
        self.engine.dispose()
