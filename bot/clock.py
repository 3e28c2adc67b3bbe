"""The app's wall clock: every time-dependent rule reads it, so tests move time, never sleep.

Invariants: one :class:`Clock` per app (``bot.extensions.clock``), shared by the verify rate
limit and the SQL store's TTLs; it reads :func:`time.time` unless a test pinned it with
:meth:`Clock.set` (then only :meth:`Clock.advance` moves it). Redis keeps its own clock for its
TTLs; nothing here changes that.
"""

from __future__ import annotations

import time


class Clock:
    """Seconds since the epoch, as :func:`time.time`; callable like it."""

    def __init__(self) -> None:
        self._pinned: float | None = None

    def __call__(self) -> float:
        """The current time (the pinned one in a test)."""
        return time.time() if self._pinned is None else self._pinned

    def set(self, epoch_s: float) -> None:
        """Pin the clock at ``epoch_s`` (tests)."""
        self._pinned = float(epoch_s)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, pinning it where it is first if need be (tests)."""
        self._pinned = self() + seconds
