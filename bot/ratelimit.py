"""Fixed-window limits on the short-lived store, for endpoints with no domain budget of their
own: the login nonce (unauthenticated, per client address) and the lost-card report (per
citizen).

Invariants:
- The slot is taken first (an atomic ``incr``) and compared after, so requests racing past the
  limit cannot all pass: at most ``limit`` succeed per window, on Redis and on the SQL store,
  from any number of workers.
- Store keys hold only a keyed hash of who is counted, never an address or an openid.
- A refusal is :class:`~bot.errors.RateLimited` (429) with ``Retry-After``, the seconds left in
  the window on the app's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math

from bot.errors import RateLimited
from storage.ephemeral import EphemeralStore


def take_slot(
    store: EphemeralStore,
    hash_key: bytes,
    scope: str,
    who: str,
    *,
    limit: int,
    window_s: int,
    now: float,
) -> None:
    """Count one request of ``who`` under ``scope``; raise 429 past ``limit`` in this window."""
    window = int(now // window_s)
    digest = hmac.new(hash_key, f"{scope}\n{who}".encode(), hashlib.sha256).hexdigest()[:32]
    used = store.incr(f"limit:{scope}:{digest}:{window}", window_s + 1)
    if used > limit:
        retry = max(1, math.ceil((window + 1) * window_s - now))
        raise RateLimited(
            "Too many requests; try again later.", headers={"Retry-After": str(retry)}
        )
