"""Bounded waits on PostgreSQL: a hung server costs a request about two seconds, never minutes.

A server stopped by SIGSTOP (or behind a dead network path) still has its TCP connections
acknowledged by the kernel, so no socket-level timeout fires and ``statement_timeout``, enforced
by the server itself, never runs. Only the client can give up. Invariants:

- Connecting gives up after ``connect_timeout_s`` (libpq's ``connect_timeout``, at least 2 s).
- The server cancels a statement after ``statement_timeout_ms``, and ends a transaction left
  idle for as long (``idle_in_transaction_session_timeout``); the client waits at most that
  plus :data:`ANSWER_MARGIN_S` for any answer (query, commit, rollback, the pool's pre-ping). On
  expiry it closes the connection and raises ``OperationalError``, which SQLAlchemy treats as a
  disconnect: the connection leaves the pool, and ``handlers.errors`` answers 503.
- A timeout opens a circuit breaker for :data:`COOLDOWN_S`: meanwhile every database call fails
  at once (no second wait for the pool's reconnect, no pile-up of threads). Then one caller at a
  time probes; the first answer from the server closes the breaker, so the service recovers by
  itself when the database does.
- Nothing here is used for SQLite (a local file cannot hang this way) nor by migrations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors

ANSWER_MARGIN_S = 0.5
COOLDOWN_S = 1.0


@dataclass(frozen=True)
class DatabaseTimeouts:
    """The configured bounds (``WANGZHENG_DATABASE_*``)."""

    connect_timeout_s: int = 2
    statement_timeout_ms: int = 1500
    pool_timeout_s: float = 2.0

    @property
    def answer_timeout_s(self) -> float:
        """How long the client waits for any answer before it drops the connection."""
        return self.statement_timeout_ms / 1000 + ANSWER_MARGIN_S


class Breaker:
    """Closed, open (fail at once) until ``cooldown`` has passed, then one probe at a time."""

    def __init__(self, cooldown_s: float = COOLDOWN_S, clock: Callable[[], float] | None = None):
        self.cooldown_s = cooldown_s
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._open_until = 0.0  # 0 = closed

    @property
    def is_open(self) -> bool:
        """True while calls are being refused or probed."""
        return self._open_until != 0.0

    def allow(self) -> bool:
        """May a call go to the server now? At most one probe per cooldown while open."""
        if not self._open_until:
            return True  # closed: the common case takes no lock
        with self._lock:
            if not self._open_until:
                return True
            now = self._clock()
            if now < self._open_until:
                return False
            self._open_until = now + self.cooldown_s  # this caller probes; others keep failing
            return True

    def trip(self) -> None:
        """The server did not answer: refuse calls for a cooldown."""
        with self._lock:
            self._open_until = self._clock() + self.cooldown_s

    def answered(self) -> None:
        """The server answered: close the breaker."""
        if self._open_until:
            with self._lock:
                self._open_until = 0.0


class Unavailable(psycopg.OperationalError):
    """The database did not answer in time, or the breaker is open after it did not."""


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait is bounded and reported to a :class:`Breaker`."""

    bound_s: float = 0.0
    breaker: Breaker | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        """psycopg's wait, with at most ``bound_s`` for the server to answer."""
        breaker = self.breaker
        if breaker is None:
            return super().wait(gen, interval, timeout)
        if not breaker.allow():
            self.pgconn.finish()  # nothing was sent; the connection leaves the pool
            raise Unavailable("the database is not answering (retrying shortly)")
        limit = self.bound_s if timeout is None else min(timeout, self.bound_s)
        try:
            result = super().wait(gen, interval, limit)
        except pg_errors._WaitTimeout:
            breaker.trip()
            self.pgconn.finish()  # mid-statement, unusable: drop it
            raise Unavailable(f"the database did not answer within {limit:g} s") from None
        breaker.answered()
        return result


def connector(timeouts: DatabaseTimeouts, breaker: Breaker) -> Callable[..., Any]:
    """A SQLAlchemy ``do_connect`` listener that opens bounded connections through ``breaker``."""

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        if not breaker.allow():
            raise Unavailable("the database is not answering (retrying shortly)")
        options = f"{cparams.get('options', '')} -c statement_timeout="
        options += str(timeouts.statement_timeout_ms)
        # A transaction left idle (a frozen worker) is ended by the server too, so every id
        # handed out commits or rolls back within a bound the audit sealer relies on.
        options += f" -c idle_in_transaction_session_timeout={timeouts.statement_timeout_ms}"
        params = {
            **cparams,
            "connect_timeout": timeouts.connect_timeout_s,
            "options": options.strip(),
        }
        try:
            connection = BoundedConnection.connect(*cargs, **params)
        except psycopg.OperationalError:
            breaker.trip()
            raise
        connection.bound_s = timeouts.answer_timeout_s
        connection.breaker = breaker
        breaker.answered()
        return connection

    return connect
