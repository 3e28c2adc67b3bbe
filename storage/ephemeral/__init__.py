"""Short-lived state shared by every worker: single-use ids, counters, caches and locks."""

import time
from collections.abc import Callable

from storage.db import Database
from storage.ephemeral.protocol import EphemeralStore, LockNotAcquired
from storage.ephemeral.redis_store import RedisStore
from storage.ephemeral.sql_store import SqlStore

__all__ = ["EphemeralStore", "LockNotAcquired", "make_store"]


def make_store(
    redis_url: str,
    database: object,
    timeout_s: float = 5.0,
    clock: Callable[[], float] = time.time,
) -> EphemeralStore:
    """Redis when ``redis_url`` is set (each call bounded by ``timeout_s``; Redis keeps its own
    clock), else the SQL store on ``database`` (a ``Database``), whose TTLs follow ``clock``.
    """
    if redis_url:
        return RedisStore.from_url(redis_url, timeout_s=timeout_s)
    assert isinstance(database, Database)  # noqa: S101 - programming error, not input
    return SqlStore(database, clock=clock)
