"""One contract, run against the SQL store and (when configured) Redis."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from storage.ephemeral import EphemeralStore, LockNotAcquired


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


def test_ttl_expiry_makes_key_absent_again(store: Any) -> None:
    assert store.add("short", "v", 0.3)
    assert store.get("short") == "v"
    time.sleep(0.45)
    assert store.get("short") is None
    assert store.add("short", "again", 5) is True


def test_incr_counts_within_window_and_restarts_after_expiry(store: Any) -> None:
    assert [store.incr("attempts", 0.4) for _ in range(3)] == [1, 2, 3]
    time.sleep(0.55)
    assert store.incr("attempts", 0.4) == 1


def test_get_reads_a_counter(store: Any) -> None:
    assert store.get("counted") is None
    store.incr("counted", 30)
    store.incr("counted", 30)
    assert store.get("counted") == "2"


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


def test_get_set_delete(store: Any) -> None:
    assert store.get("cache") is None
    store.set("cache", "token-1", 30)
    store.set("cache", "token-2", 30)
    assert store.get("cache") == "token-2"
    store.delete("cache")
    assert store.get("cache") is None


def test_lock_excludes_and_times_out(store: Any) -> None:
    with store.lock("refresh", ttl=5, wait=0.5):
        with pytest.raises(LockNotAcquired):
            with store.lock("refresh", ttl=5, wait=0.1):
                pass
    with store.lock("refresh", ttl=5, wait=0.1):
        pass


def test_lock_expires_when_owner_dies(store: Any) -> None:
    # An owner that never releases: take the raw key the way a crashed worker would leave it.
    with pytest.raises(LockNotAcquired):
        with store.lock("orphan", ttl=0.3, wait=0.0):
            with store.lock("orphan", ttl=0.3, wait=0.0):
                pass
    assert store.add("lock:stale", "dead-owner", 0.2)
    with store.lock("stale", ttl=5, wait=1.0):
        pass


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
            time.sleep(0.01)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1
