"""Liveness challenges: issued to one citizen on one device, answered once, in time.

Invariants:
- A challenge records who asked for it (citizen id and device id), when (``issued_at``, from an
  injectable clock) and the random steps. It lives in the short-lived store for
  ``CHALLENGE_TTL_S`` seconds.
- It is answered only by the citizen and device it was issued to: any other principal gets
  :class:`ChallengeInvalid` and does *not* consume it (nobody can burn another's challenge).
- Its owner's first answer consumes it, right or wrong: an ``add`` on a "used" marker is atomic
  across workers, so exactly one answer is ever judged.
- Expiry is judged against ``issued_at`` with the same clock, not only by the store's TTL, so an
  answer that arrives after the window fails even if the key is still there.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.face.errors import ChallengeInvalid
from storage.ephemeral import EphemeralStore

Clock = Callable[[], float]
CHALLENGE_TTL_S = 60
DIRECTIONS = ("left", "right")
_KEY = "face:challenge:"
_USED = "face:challenge-used:"
_INVALID = "The liveness challenge is unknown, expired or already used."


@dataclass(frozen=True)
class Challenge:
    """What the client must do: look straight, then turn as ``steps`` say, before expiry."""

    id: str
    steps: tuple[str, ...]
    issued_at: float
    expires_at: float


@dataclass(frozen=True)
class Requester:
    """The principal a challenge is bound to."""

    citizen_id: int
    device_id: str


def new_challenge(
    store: EphemeralStore,
    steps: int = 2,
    *,
    requester: Requester,
    clock: Clock = time.time,
) -> Challenge:
    """Issue a random challenge of ``steps`` distinct turns (1 or 2) to ``requester``."""
    count = min(max(steps, 1), len(DIRECTIONS))
    order = list(DIRECTIONS)
    first = secrets.choice(order)
    chosen = (first,) if count == 1 else (first, *(d for d in order if d != first))
    issued_at = clock()
    challenge = Challenge(
        id=secrets.token_urlsafe(18),
        steps=chosen,
        issued_at=issued_at,
        expires_at=issued_at + CHALLENGE_TTL_S,
    )
    record = {
        "steps": list(chosen),
        "issued_at": issued_at,
        "citizen_id": requester.citizen_id,
        "device_id": requester.device_id,
    }
    store.set(_KEY + challenge.id, json.dumps(record), CHALLENGE_TTL_S)
    return challenge


def consume_challenge(
    store: EphemeralStore,
    challenge_id: str,
    *,
    requester: Requester,
    clock: Clock = time.time,
) -> Challenge:
    """The challenge, now used; raises :class:`ChallengeInvalid` when it cannot be answered."""
    raw = store.get(_KEY + challenge_id) if challenge_id else None
    if raw is None:
        raise ChallengeInvalid(_INVALID)
    record = json.loads(raw)
    owner = record["citizen_id"] == requester.citizen_id and hmac.compare_digest(
        str(record["device_id"]).encode(), requester.device_id.encode()
    )
    if not owner:
        raise ChallengeInvalid(_INVALID, details={"reason": "not_yours"})
    issued_at = float(record["issued_at"])
    now = clock()
    if not issued_at <= now <= issued_at + CHALLENGE_TTL_S:
        raise ChallengeInvalid(_INVALID, details={"reason": "expired"})
    if not store.add(_USED + challenge_id, "1", CHALLENGE_TTL_S):
        raise ChallengeInvalid(_INVALID, details={"reason": "used"})
    store.delete(_KEY + challenge_id)
    return Challenge(
        id=challenge_id,
        steps=tuple(str(step) for step in record["steps"]),
        issued_at=issued_at,
        expires_at=issued_at + CHALLENGE_TTL_S,
    )
