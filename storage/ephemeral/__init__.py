"""Short-lived state shared by every worker: single-use ids, counters, caches and locks."""

from storage.ephemeral.protocol import EphemeralStore, LockNotAcquired

__all__ = ["EphemeralStore", "LockNotAcquired", "make_store"]


def make_store(redis_url: str, database: object) -> EphemeralStore:
    """Redis when ``redis_url`` is set, else the SQL store on ``database`` (a ``Database``)."""
    if redis_url:
        from storage.ephemeral.redis_store import RedisStore

        return RedisStore.from_url(redis_url)
    from storage.db import Database
    from storage.ephemeral.sql_store import SqlStore

    assert isinstance(database, Database)  # noqa: S101 - programming error, not input
    return SqlStore(database)
