"""The database circuit breaker and the engine's bounds, with an injected clock (no sleeps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.pool import QueuePool

from bot import create_app
from bot.extensions import database, store
from storage.bounded import Breaker, DatabaseTimeouts
from storage.ephemeral.redis_store import RedisStore


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_refuses_during_cooldown_then_lets_one_probe_through() -> None:
    clock = FakeClock()
    breaker = Breaker(cooldown_s=1.0, clock=clock)
    assert breaker.allow() and breaker.allow()  # closed: everyone
    breaker.trip()
    assert breaker.is_open and not breaker.allow()
    clock.now += 0.99
    assert not breaker.allow()
    clock.now += 0.02
    assert breaker.allow()  # the one probe
    assert not breaker.allow() and not breaker.allow()  # others keep failing meanwhile
    breaker.trip()  # the probe got no answer either
    clock.now += 0.5
    assert not breaker.allow()
    clock.now += 0.6
    assert breaker.allow()
    breaker.answered()  # the probe got an answer: closed for everyone
    assert not breaker.is_open and breaker.allow() and breaker.allow()


def test_answer_bound_is_the_statement_timeout_plus_a_margin() -> None:
    assert DatabaseTimeouts(statement_timeout_ms=1500).answer_timeout_s == 2.0


def test_settings_reach_the_engine_and_the_redis_client(tmp_path: Path) -> None:
    app: Any = create_app(
        {
            "env": "testing",
            "instance_path": tmp_path,
            "database_url": "postgresql://postgres@127.0.0.1:1/none",  # never connected to
            "redis_url": "redis://127.0.0.1:1/0",
            "database_pool_timeout_s": 3,
            "redis_socket_timeout_ms": 250,
        }
    )
    pool = database(app).engine.pool
    assert isinstance(pool, QueuePool) and pool.timeout() == 3
    redis_store = store(app)
    assert isinstance(redis_store, RedisStore)
    pool_kwargs = redis_store.client.connection_pool.connection_kwargs
    assert pool_kwargs["socket_timeout"] == 0.25
    assert pool_kwargs["socket_connect_timeout"] == 0.25
