"""SQL implementation of :class:`~storage.ephemeral.protocol.EphemeralStore`.

Invariants:
- Each call is one short transaction of its own, on its own connection, independent of any
  request transaction (a nonce consumed by a request that later fails stays consumed).
- Atomicity comes from single-statement upserts (``INSERT ... ON CONFLICT ... WHERE expired``),
  which SQLite (3.24+) and PostgreSQL both run atomically, so it is correct across threads and
  across gunicorn worker processes sharing one database.
- Expired rows are treated as absent and purged opportunistically. "Expired" is judged by the
  store's clock (the app's :class:`bot.clock.Clock`), never by the database's own time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import Table, Text, case, cast, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.ephemeral.protocol import owner_lock
from storage.models.ephemeral import EphemeralEntry

_table: Table = EphemeralEntry.__table__  # type: ignore[assignment]


class SqlStore:
    """Short-lived state in the main database; the embedded default."""

    backend = "sql"

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self.clock = clock  # expiry is judged by this clock alone (tests move it)
        self._insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert

    def _purge_sometimes(self, now: float) -> None:
        """Delete expired rows on about one call in a hundred."""
        if random.random() < 0.01:  # noqa: S311 - scheduling, not security
            with self.database.engine.begin() as conn:
                conn.execute(delete(_table).where(_table.c.expires_at <= now))

    def add(self, key: str, value: str, ttl: float) -> bool:
        """Insert, or take over an expired row; RETURNING tells whether this call won."""
        now = self.clock()
        stmt = self._insert(_table).values(key=key, value=value, counter=0, expires_at=now + ttl)
        claim = stmt.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={"value": value, "counter": 0, "expires_at": now + ttl},
            where=_table.c.expires_at <= now,
        ).returning(_table.c.key)
        with self.database.engine.begin() as conn:
            # A row comes back only when this statement inserted or took over an expired row.
            won = conn.execute(claim).first() is not None
        self._purge_sometimes(now)
        return won

    def incr(self, key: str, ttl: float) -> int:
        """Upsert that restarts the window when the row has expired."""
        now = self.clock()
        stmt = self._insert(_table).values(key=key, value="1", counter=1, expires_at=now + ttl)
        expired = _table.c.expires_at <= now

        upsert = stmt.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={
                "counter": case((expired, 1), else_=_table.c.counter + 1),
                # ``value`` mirrors the counter so that ``get`` reads it, as with Redis.
                "value": case((expired, "1"), else_=cast(_table.c.counter + 1, Text)),
                "expires_at": case((expired, now + ttl), else_=_table.c.expires_at),
            },
        ).returning(_table.c.counter)
        with self.database.engine.begin() as conn:
            return int(conn.execute(upsert).scalar_one())

    def decr(self, key: str) -> int:
        """One conditional UPDATE of a live, positive counter; the TTL is left as it is."""
        lowered = (
            update(_table)
            .where(_table.c.key == key, _table.c.expires_at > time.time(), _table.c.counter > 0)
            .values(counter=_table.c.counter - 1, value=cast(_table.c.counter - 1, Text))
            .returning(_table.c.counter)
        )
        with self.database.engine.begin() as conn:
            value = conn.execute(lowered).scalar_one_or_none()
        return 0 if value is None else int(value)

    def get(self, key: str) -> str | None:
        """The live value or None."""
        live = _table.c.expires_at > self.clock()
        with self.database.engine.connect() as conn:
            row = conn.execute(select(_table.c.value).where(_table.c.key == key, live)).first()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str, ttl: float) -> None:
        """Unconditional upsert."""
        now = self.clock()
        stmt = self._insert(_table).values(key=key, value=value, counter=0, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={"value": value, "counter": 0, "expires_at": now + ttl},
        )
        with self.database.engine.begin() as conn:
            conn.execute(stmt)

    def get_and_count(
        self, key: str, counter: str, ttl: float, also: Sequence[str] = ()
    ) -> tuple[str | None, int, tuple[str | None, ...]]:
        """``get`` then, on a hit, ``incr``, then ``get`` of each ``also`` key (short
        transactions of their own; no network to save here)."""
        value = self.get(key)
        count = 0 if value is None else self.incr(counter, ttl)
        return value, count, tuple(self.get(name) for name in also)

    def delete(self, key: str) -> None:
        """Delete the row."""
        with self.database.engine.begin() as conn:
            conn.execute(delete(_table).where(_table.c.key == key))

    def lock(self, name: str, ttl: float, wait: float) -> AbstractContextManager[None]:
        """A lock with an owner token, released by an owner-matched delete."""
        return owner_lock(self.add, self._release_owned, name, ttl, wait)

    def _release_owned(self, key: str, owner: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(delete(_table).where(_table.c.key == key, _table.c.value == owner))

    def ping(self) -> None:
        """A trivial query on the table."""
        with self.database.engine.connect() as conn:
            conn.execute(select(_table.c.key).limit(1))
