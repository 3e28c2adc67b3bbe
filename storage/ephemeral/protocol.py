"""The contract of the short-lived store.

Invariants every implementation keeps (``tests/storage/test_ephemeral_contract.py`` checks them):
- ``add`` is atomic across threads and processes: of N concurrent callers on one absent key,
  exactly one gets ``True``.
- An expired key behaves exactly like an absent one, for every method.
- ``incr`` starts a fixed window: the TTL is set by the first increment and not extended.
- ``decr`` only lowers a live counter, never below zero; it never creates a key nor touches its
  TTL (a refund after the window ended is a no-op).
- ``get_and_count`` counts (as ``incr`` does) only when the key it reads is present, so an
  unknown key leaves no counter behind, and reads the ``also`` keys besides; on Redis all of it
  is one round trip.
- ``lock`` is held by one owner at a time, expires after its TTL if the owner dies, and is
  released only by its owner.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable


class LockNotAcquired(RuntimeError):
    """The lock stayed held by someone else for the whole wait."""


@runtime_checkable
class EphemeralStore(Protocol):
    """Key/value state with expiry, shared across workers."""

    backend: str

    def add(self, key: str, value: str, ttl: float) -> bool:
        """Set ``key`` only if absent (or expired); True when this call set it."""
        ...

    def incr(self, key: str, ttl: float) -> int:
        """Increment a counter, creating it with ``ttl`` when absent; returns the new value."""
        ...

    def decr(self, key: str) -> int:
        """Lower a live counter by one, not below zero; returns the new value (0 when absent)."""
        ...

    def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""
        ...

    def set(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` unconditionally with ``ttl``."""
        ...

    def get_and_count(
        self, key: str, counter: str, ttl: float, also: Sequence[str] = ()
    ) -> tuple[str | None, int, tuple[str | None, ...]]:
        """``key``'s value and, when it is present, ``incr(counter, ttl)`` (else 0); and the
        values of the ``also`` keys."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        ...

    def lock(self, name: str, ttl: float, wait: float) -> AbstractContextManager[None]:
        """Hold a named lock for the block; raise :class:`LockNotAcquired` after ``wait`` s."""
        ...

    def ping(self) -> None:
        """Raise if the backend cannot be reached."""
        ...


@contextmanager
def owner_lock(
    add: Callable[[str, str, float], bool],
    release: Callable[[str, str], None],
    name: str,
    ttl: float,
    wait: float,
) -> Iterator[None]:
    """The lock both stores share: ``add`` an owner token under ``lock:<name>``, spinning until
    ``wait`` runs out; ``release(key, owner)`` must delete the key only if it still holds owner.
    """
    owner = secrets.token_hex(16)
    key = "lock:" + name
    deadline = time.monotonic() + wait
    while not add(key, owner, ttl):
        if time.monotonic() >= deadline:
            raise LockNotAcquired(name)
        time.sleep(0.02)
    try:
        yield
    finally:
        release(key, owner)
