"""Redis implementation of :class:`~storage.ephemeral.protocol.EphemeralStore`.

Invariants: every key carries the ``wz:`` prefix; TTLs are in milliseconds so sub-second
windows work; ``incr`` and ``get_and_count`` set the expiry only on creation (fixed window), each
via one Lua script whose keys are all passed in ``KEYS`` (so it also runs on Redis Cluster when
they share a hash slot); a
command that gets no answer within the socket timeout raises ``redis.TimeoutError`` at once
(no retries), which ``handlers.errors`` answers with 503.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from storage.ephemeral.protocol import owner_lock

_INCR_SCRIPT = """
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value
"""
_DECR_SCRIPT = """
local value = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if value <= 0 then return 0 end
return redis.call('DECR', KEYS[1])
"""
_GET_AND_COUNT_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if not value then return {false, 0} end
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return {value, count}
"""
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(ttl: float) -> int:
    """TTL in whole milliseconds, at least 1."""
    return max(1, int(ttl * 1000))


class RedisStore:
    """Short-lived state in Redis; required when several machines share the service."""

    backend = "redis"

    def __init__(self, client: redis.Redis, prefix: str = "wz:") -> None:
        self.client = client
        self.prefix = prefix
        self._incr = client.register_script(_INCR_SCRIPT)
        self._decr = client.register_script(_DECR_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 5.0) -> RedisStore:
        """Connect lazily to ``url``; connecting and every command give up after ``timeout_s``
        and are not retried, so a hung Redis costs a request ``timeout_s`` and a 503.
        """
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def add(self, key: str, value: str, ttl: float) -> bool:
        """SET NX PX: atomic in Redis."""
        return bool(self.client.set(self._k(key), value, px=_ms(ttl), nx=True))

    def incr(self, key: str, ttl: float) -> int:
        """INCR, with PEXPIRE on the first increment only."""
        return int(self._incr(keys=[self._k(key)], args=[_ms(ttl)]))

    def decr(self, key: str) -> int:
        """DECR of an existing positive counter only (one script, so atomic); keeps the TTL."""
        return int(self._decr(keys=[self._k(key)]))

    def get(self, key: str) -> str | None:
        """GET, decoded."""
        raw = self.client.get(self._k(key))
        return None if raw is None else bytes(raw).decode()  # type: ignore[arg-type]

    def set(self, key: str, value: str, ttl: float) -> None:
        """SET PX."""
        self.client.set(self._k(key), value, px=_ms(ttl))

    def get_and_count(
        self, key: str, counter: str, ttl: float, also: Sequence[str] = ()
    ) -> tuple[str | None, int, tuple[str | None, ...]]:
        """GET, and INCR (PEXPIRE on creation) only on a hit, in one script; GET of the
        ``also`` keys beside it in the same pipeline: one round trip. The script goes as EVAL
        (Redis caches it by digest), since a pipeline would first ask whether an EVALSHA's
        script exists, a round trip of its own."""
        pipe = self.client.pipeline(transaction=False)
        pipe.eval(_GET_AND_COUNT_SCRIPT, 2, self._k(key), self._k(counter), _ms(ttl))
        for name in also:
            pipe.get(self._k(name))
        (raw, count), *others = pipe.execute()
        extra = tuple(None if value is None else bytes(value).decode() for value in others)
        return (None, 0, extra) if raw is None else (bytes(raw).decode(), int(count), extra)

    def delete(self, key: str) -> None:
        """DEL."""
        self.client.delete(self._k(key))

    def lock(self, name: str, ttl: float, wait: float) -> AbstractContextManager[None]:
        """A lock with an owner token, released only by its owner (compare-and-delete script)."""
        return owner_lock(self.add, self._release_owned, name, ttl, wait)

    def _release_owned(self, key: str, owner: str) -> None:
        self._release(keys=[self._k(key)], args=[owner])

    def ping(self) -> None:
        """PING."""
        self.client.ping()
