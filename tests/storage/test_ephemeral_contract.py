"""One contract, run against the SQL store and (when configured) Redis. Nothing here sleeps.

Time is moved, not waited for: the SQL store judges expiry by the app's clock, which these tests
pin and advance. Redis keeps its own clock, so there a key is aged by cutting its TTL (PEXPIRE;
past zero, Redis expires the key at once) and TTLs are read back with PTTL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.extensions import clock
from storage.ephemeral import EphemeralStore, LockNotAcquired
from storage.models.ephemeral import EphemeralEntry

Age = Callable[[str, float], None]
Remaining = Callable[[str], float]


@pytest.fixture
def age(app: Any, store: Any) -> Age:
    """``age(key, seconds)``: the key's remaining lifetime shrinks by ``seconds``."""
    if store.backend == "sql":
        pinned = clock(app)
        pinned.set(pinned())  # pinned: only advance() moves it now

        def advance(_key: str, seconds: float) -> None:
            pinned.advance(seconds)

        return advance

    def cut(key: str, seconds: float) -> None:
        left = int(store.client.pttl(store.prefix + key)) - int(seconds * 1000)
        if left > 0:
            store.client.pexpire(store.prefix + key, left)
        else:
            store.client.pexpireat(store.prefix + key, 1)  # in the past: expired at once

    return cut


@pytest.fixture
def remaining(app: Any, db: Any, store: Any) -> Remaining:
    """``remaining(key)``: seconds the key has left, by the store's own clock."""
    if store.backend == "sql":
        app_clock = clock(app)

        def from_row(key: str) -> float:
            with db.engine.connect() as conn:
                expires = conn.execute(
                    select(EphemeralEntry.expires_at).where(EphemeralEntry.key == key)
                ).scalar_one()
            return float(expires) - app_clock()

        return from_row
    return lambda key: int(store.client.pttl(store.prefix + key)) / 1000


def test_store_satisfies_protocol(store: Any) -> None:
    assert isinstance(store, EphemeralStore)
    store.ping()


def test_add_is_set_if_absent(store: Any) -> None:
    assert store.add("nonce:a", "first", 30) is True
    assert store.add("nonce:a", "second", 30) is False
    assert store.get("nonce:a") == "first"


def test_add_race_of_16_threads_has_exactly_one_winner(store: Any) -> None:
    barrier = threading.Barrier(16)
    wins: list[bool] = []
    lock = threading.Lock()

    def contender(i: int) -> None:
        barrier.wait()
        won = store.add("race:key", f"owner-{i}", 30)
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 16
    assert wins.count(True) == 1


def test_ttl_expiry_makes_key_absent_again(store: Any, age: Age, remaining: Remaining) -> None:
    assert store.add("short", "v", 30)
    assert 29 < remaining("short") <= 30
    age("short", 29.5)
    assert store.get("short") == "v"  # half a second left: still there
    assert store.add("short", "other", 30) is False
    age("short", 1)
    assert store.get("short") is None  # expired is absent, for every method
    assert store.add("short", "again", 5) is True
    assert store.get("short") == "again"
    assert 4 < remaining("short") <= 5
    store.set("short", "set", 10)
    age("short", 11)
    assert store.get("short") is None


def test_incr_counts_within_window_and_restarts_after_expiry(
    store: Any, age: Age, remaining: Remaining
) -> None:
    assert [store.incr("attempts", 40) for _ in range(3)] == [1, 2, 3]
    assert 39 < remaining("attempts") <= 40
    age("attempts", 30)
    assert store.incr("attempts", 40) == 4
    assert remaining("attempts") <= 10  # a fixed window: later increments do not extend it
    age("attempts", 10.5)
    assert store.get("attempts") is None
    assert store.incr("attempts", 40) == 1  # a new window, with a full TTL
    assert 39 < remaining("attempts") <= 40


def test_get_reads_a_counter(store: Any) -> None:
    assert store.get("counted") is None
    store.incr("counted", 30)
    store.incr("counted", 30)
    assert store.get("counted") == "2"


def test_get_and_count_counts_only_a_present_key(store: Any, remaining: Remaining) -> None:
    assert store.get_and_count("member", "member-calls", 40) == (None, 0, ())
    assert store.get("member-calls") is None  # an absent key leaves no counter behind
    store.set("member", "yes", 30)
    store.set("extra", "x", 30)
    assert store.get_and_count("member", "member-calls", 40) == ("yes", 1, ())
    assert store.get_and_count("member", "member-calls", 40, ("extra", "absent")) == (
        "yes",
        2,
        ("x", None),
    )
    assert 39 < remaining("member-calls") <= 40  # the window is the counter's own TTL
    assert store.get("member-calls") == "2"


def test_incr_race_counts_every_increment(store: Any) -> None:
    barrier = threading.Barrier(16)

    def bump() -> None:
        barrier.wait()
        for _ in range(5):
            store.incr("hits", 30)

    threads = [threading.Thread(target=bump) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.incr("hits", 30) == 81


def test_decr_refunds_a_live_counter_but_never_creates_or_goes_below_zero(
    store: Any, age: Age, remaining: Remaining
) -> None:
    assert store.decr("refund:absent") == 0
    assert store.get("refund:absent") is None
    store.incr("refund:counter", 40)
    store.incr("refund:counter", 40)
    assert store.decr("refund:counter") == 1
    assert store.get("refund:counter") == "1"
    assert store.decr("refund:counter") == 0
    assert store.decr("refund:counter") == 0
    assert store.incr("refund:counter", 40) == 1
    # The refund kept the first increment's window: the counter still expires on time.
    assert remaining("refund:counter") <= 40
    age("refund:counter", 40.5)
    assert store.get("refund:counter") is None
    assert store.decr("refund:counter") == 0
    assert store.incr("refund:counter", 30) == 1


def test_incr_and_decr_race_balance_exactly(store: Any) -> None:
    store.incr("balance", 30)
    barrier = threading.Barrier(16)

    def reserve_and_refund() -> None:
        barrier.wait()
        for _ in range(5):
            store.incr("balance", 30)
            store.decr("balance")

    threads = [threading.Thread(target=reserve_and_refund) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("balance") == "1"


def test_get_set_delete(store: Any) -> None:
    assert store.get("cache") is None
    store.set("cache", "token-1", 30)
    store.set("cache", "token-2", 30)
    assert store.get("cache") == "token-2"
    store.delete("cache")
    assert store.get("cache") is None


def test_lock_excludes_and_times_out(store: Any) -> None:
    with store.lock("refresh", ttl=5, wait=0.0):
        with pytest.raises(LockNotAcquired):
            with store.lock("refresh", ttl=5, wait=0.0):
                pass
        assert store.get("lock:refresh")  # still held by the outer block
    assert store.get("lock:refresh") is None  # released by its owner
    with store.lock("refresh", ttl=5, wait=0.0):
        pass


def test_lock_expires_when_owner_dies(store: Any, age: Age) -> None:
    # An owner that never releases: take the raw key the way a crashed worker would leave it.
    assert store.add("lock:stale", "dead-owner", 5)
    with pytest.raises(LockNotAcquired):
        with store.lock("stale", ttl=5, wait=0.0):
            pass
    age("lock:stale", 5.1)
    with store.lock("stale", ttl=5, wait=0.0):
        assert store.get("lock:stale") != "dead-owner"  # ours now
    # A late release by the dead owner's token would not free someone else's lock.
    with store.lock("stale", ttl=5, wait=0.0):
        store._release_owned("lock:stale", "dead-owner")
        assert store.get("lock:stale") not in (None, "dead-owner")


def test_lock_serialises_critical_section(store: Any) -> None:
    inside = 0
    peak = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, peak
        with store.lock("section", ttl=5, wait=10):
            with guard:
                inside += 1
                peak = max(peak, inside)
            store.get("section-probe")  # a round trip to the store: others run meanwhile
            with guard:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1
