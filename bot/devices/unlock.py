"""Fingerprint or face unlock before the pass shows (WeChat SOTER).

The mini-program asks for a challenge, runs ``wx.startSoterAuthentication`` with it, and posts
the signed ``resultJSON`` back; :func:`verify_unlock` opens a short unlock window for the
session's device. When the citizen switched "unlock with fingerprint" on, presentation tokens
are minted only inside that window (:func:`presentation_amr`), and carry ``amr`` with the
method.

Invariants:
- A challenge is 192 random bits, kept in the short-lived store under its digest, bound to the
  citizen, the session and the device that asked for it, and valid for
  ``unlock_challenge_ttl_s`` judged on the app's clock (the store keeps it twice as long, so
  a late one is told apart as expired rather than unknown).
- It is used once: the first unlock that names it (in the signed ``raw``) marks it used with an
  atomic set-if-absent *before* WeChat is asked, so of N parallel submissions exactly one can
  succeed; a submission by another session neither uses it nor learns more than "unknown". A
  WeChat outage lifts the mark again, so the same signed result can be sent after Retry-After;
  a refused signature does not.
- Nothing in ``resultJSON`` counts before WeChat accepted its signature for the citizen's
  openid. The window is keyed by citizen and device digest, lives ``unlock_window_s`` on the
  app's clock as well as the store's TTL, and records the method; it opens only after the
  ``UnlockVerified`` event committed.
- No challenge, signature or resultJSON is ever logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import same, token_digest
from bot.devices.errors import (
    SessionInvalid,
    SoterSignatureInvalid,
    UnlockChallengeExpired,
    UnlockChallengeUnknown,
    UnlockChallengeUsed,
    UnlockMethodMismatch,
    UnlockRequired,
)
from bot.devices.soter import METHOD_AMR, SoterResult, SoterVerifier, signed_challenge
from bot.errors import WangzhengError
from bot.events import UnlockVerified, record
from storage.db import Database
from storage.ephemeral import EphemeralStore
from storage.models.citizen import Citizen

Clock = Callable[[], float]
_CHALLENGE = "unlock:challenge:"
_USED = "unlock:used:"
_WINDOW = "unlock:window:"


@dataclass(frozen=True)
class UnlockChallenge:
    """The challenge to pass to ``wx.startSoterAuthentication`` and its lifetime (seconds)."""

    challenge: str
    expires_in: int


@dataclass(frozen=True)
class Unlocked:
    """A verified unlock: the method, and until when (epoch seconds) tokens may be minted."""

    method: str
    until: float


def _window_key(citizen_id: int, device_id: str) -> str:
    return f"{_WINDOW}{citizen_id}:{token_digest(device_id)}"


def new_unlock_challenge(
    store: EphemeralStore,
    settings: Settings,
    clock: Clock,
    *,
    citizen_id: int,
    session_id: int,
    device_id: str,
) -> UnlockChallenge:
    """A fresh single-use challenge bound to this session and device."""
    challenge = secrets.token_urlsafe(24)
    entry = {
        "citizen_id": citizen_id,
        "session_id": session_id,
        "device": token_digest(device_id),
        "issued_at": clock(),
    }
    ttl = settings.unlock_challenge_ttl_s
    store.set(_CHALLENGE + token_digest(challenge), json.dumps(entry), 2 * ttl)
    return UnlockChallenge(challenge, ttl)


def _claim_challenge(
    store: EphemeralStore,
    settings: Settings,
    clock: Clock,
    challenge: str,
    *,
    citizen_id: int,
    session_id: int,
    device_id: str,
) -> str:
    """Check the challenge is ours, this session's and fresh, then mark it used; returns the
    used-mark's key (to lift it again on an outage)."""
    digest = token_digest(challenge)
    raw = store.get(_CHALLENGE + digest)
    entry = json.loads(raw) if raw else None
    if (
        not isinstance(entry, dict)
        or entry.get("citizen_id") != citizen_id
        or entry.get("session_id") != session_id
        or not same(str(entry.get("device", "")), token_digest(device_id))
    ):
        raise UnlockChallengeUnknown()
    ttl = settings.unlock_challenge_ttl_s
    if not float(entry["issued_at"]) <= clock() < float(entry["issued_at"]) + ttl:
        raise UnlockChallengeExpired()
    used_key = _USED + digest
    if not store.add(used_key, "1", 2 * ttl):
        raise UnlockChallengeUsed()
    return used_key


def verify_unlock(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    verifier: SoterVerifier,
    clock: Clock,
    *,
    citizen_id: int,
    openid: str,
    session_id: int,
    device_id: str,
    result: SoterResult,
) -> Unlocked:
    """Check the SOTER result (our challenge, unused, fresh; WeChat's signature check) and open
    the unlock window of this device."""
    method = result.method
    challenge = signed_challenge(result.result_json)
    with database.transaction() as session:
        citizen = _citizen(session, citizen_id)
        chosen, device_model = citizen.unlock_method, citizen.current_device_model
    if chosen is not None and chosen != method:
        raise UnlockMethodMismatch(f"Unlock with your {chosen}.", details={"method": chosen})
    used_key = _claim_challenge(
        store,
        settings,
        clock,
        challenge,
        citizen_id=citizen_id,
        session_id=session_id,
        device_id=device_id,
    )
    try:
        accepted = verifier.verify(
            openid=openid,
            result_json=result.result_json,
            result_json_signature=result.result_json_signature,
        )
    except WangzhengError:
        store.delete(used_key)  # WeChat could not judge: the same result may be sent again
        raise
    if not accepted:
        raise SoterSignatureInvalid()
    with database.transaction() as session:
        record(session, UnlockVerified(citizen_id, method, device_model))
    until = clock() + settings.unlock_window_s
    window = json.dumps({"method": method, "until": until})
    store.set(_window_key(citizen_id, device_id), window, settings.unlock_window_s)
    return Unlocked(method, until)


def recent_unlock(
    store: EphemeralStore, clock: Clock, *, citizen_id: int, device_id: str
) -> Unlocked | None:
    """The device's open unlock window, or None."""
    raw = store.get(_window_key(citizen_id, device_id))
    window = json.loads(raw) if raw else None
    if not isinstance(window, dict) or not clock() < float(window.get("until", 0)):
        return None
    return Unlocked(str(window["method"]), float(window["until"]))


def presentation_amr(
    session: Session,
    store: EphemeralStore,
    clock: Clock,
    *,
    citizen_id: int,
    device_id: str,
) -> tuple[str, ...]:
    """The ``amr`` a presentation of this device may carry now; raises :class:`UnlockRequired`
    when the citizen asked for a biometric unlock and the device has no open window of it."""
    chosen = _citizen(session, citizen_id).unlock_method
    unlocked = recent_unlock(store, clock, citizen_id=citizen_id, device_id=device_id)
    if chosen is not None and (unlocked is None or unlocked.method != chosen):
        raise UnlockRequired(details={"method": chosen})
    return (METHOD_AMR[unlocked.method],) if unlocked is not None else ()


def _citizen(session: Session, citizen_id: int) -> Citizen:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise SessionInvalid("Sign in again.")
    return citizen
