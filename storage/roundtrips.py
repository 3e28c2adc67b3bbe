"""Counting network round trips to PostgreSQL and Redis, for the verify bench and its test.

What counts as one round trip, measured at the wire, not guessed from SQL:
- PostgreSQL: libpq's own protocol trace (``PQtrace``) of every connection used inside the
  block; one round trip is one turn from frontend messages to backend messages. ``BEGIN``,
  ``COMMIT``, a pool pre-ping and each statement are one each; a pipeline sync carrying several
  statements is one. Connecting is not counted (a connection is traced from its first use).
- Redis: one ``Connection.send_packed_command``: a command, a script call, or a whole pipeline.

Invariant: :func:`counting` patches psycopg's ``Connection.wait`` and redis-py's
``send_packed_command`` for the duration of the block only, counts across every thread of the
process, and restores both (and stops every trace) afterwards, even on error.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import psycopg
import redis.connection
from psycopg import pq


@dataclass
class RoundTrips:
    """Round trips seen in a block, per backend (PostgreSQL is filled in when it ends)."""

    postgresql: int = 0
    redis: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        """PostgreSQL plus Redis."""
        return self.postgresql + self.redis

    def add_redis(self) -> None:
        """Count one Redis round trip."""
        with self._lock:
            self.redis += 1


def turns(trace: str) -> int:
    """Round trips in a libpq trace: how often the frontend spoke and the backend answered."""
    count, last = 0, ""
    for line in trace.splitlines():
        direction = line.split("\t", 1)[0]
        if direction == "B" and last == "F":
            count += 1
        if direction in ("F", "B"):
            last = direction
    return count


@contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count round trips made by this process inside the block."""
    seen = RoundTrips()
    traces: dict[int, tuple[Any, IO[bytes]]] = {}
    lock = threading.Lock()
    pg_wait = psycopg.Connection.wait
    redis_send = redis.connection.AbstractConnection.send_packed_command

    def wait(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            if id(self.pgconn) not in traces:
                sink = tempfile.TemporaryFile()
                self.pgconn.trace(sink.fileno())
                self.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                traces[id(self.pgconn)] = (self.pgconn, sink)
        return pg_wait(self, *args, **kwargs)

    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.add_redis()
        return redis_send(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    psycopg.Connection.wait = wait  # type: ignore[method-assign]
    redis.connection.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Connection.wait = pg_wait  # type: ignore[method-assign]
        redis.connection.AbstractConnection.send_packed_command = redis_send  # type: ignore[method-assign]
        for pgconn, sink in traces.values():
            if pgconn.status != pq.ConnStatus.BAD:
                pgconn.untrace()
            sink.seek(0)
            seen.postgresql += turns(sink.read().decode(errors="replace"))
            sink.close()
