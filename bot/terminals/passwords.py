"""The 8-digit password of an upgraded credential: rules, argon2id hashing, and the lockout.

Invariants:
- A password is exactly 8 ASCII digits. Weak choices are refused (:func:`weakness`): one digit
  repeated, an ascending or descending run (wrapping 9→0 too), and the citizen's date of birth as
  YYYYMMDD, DDMMYYYY, MMDDYYYY or YYYYDDMM. The birth date may be known only once the chip is
  read, so :func:`dates_spelled` lists the dates the password could spell, kept as keyed digests
  with the terminal session (minutes, never in the database) and compared then: no slow hash.
- Only the argon2id hash (argon2-cffi's RFC 9106 defaults) is kept; the password is never
  logged, stored, or part of an error message.
- Lockout (:func:`check_password`), per credential, through the short-lived store, exact under
  concurrency across workers: every attempt first reserves a slot with an atomic ``incr`` in
  the current window (numbered by the count of locks so far), and exactly the first
  :data:`MAX_FAILURES` slots of a window are compared with the hash. The sixth reservation
  starts a lock (one winner, under a store lock) of :func:`lock_seconds` for the number of locks
  so far (1 min, 5 min, 30 min, then 1 day); attempts after it land in the next window. A right
  password gives its slot back. The lock's end is stored as an instant of the app clock, so
  injected time moves it on every store.
- A wrong password and a locked one answer differently (403 vs 429), but neither says which
  digit, nor whether a password exists.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.config import Settings
from bot.crypto import keyed_hash
from bot.terminals.errors import PasswordInvalid, PasswordLocked, PasswordWeak
from storage.ephemeral import EphemeralStore

PASSWORD = re.compile(r"[0-9]{8}")
DATE_PURPOSE = "terminal.password_date"
MAX_FAILURES = 5
LOCK_STEPS_S = (60, 300, 1800, 86400)
STRIKES_TTL_S = 7 * 86400
WINDOW_TTL_S = 86400
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)


def birth_date_forms(birth: dt.date) -> tuple[str, ...]:
    """The common 8-digit spellings of a birth date."""
    y, m, d = f"{birth.year:04d}", f"{birth.month:02d}", f"{birth.day:02d}"
    return (y + m + d, d + m + y, m + d + y, y + d + m)


def weakness(password: str, birth: dt.date | None = None) -> str | None:
    """Why ``password`` is refused, or None when it is acceptable."""
    if not isinstance(password, str) or not PASSWORD.fullmatch(password):
        return "The password is exactly 8 digits."
    if len(set(password)) == 1:
        return "One digit repeated is too easy to guess."
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(password)}
    if steps in ({1}, {9}):
        return "An ascending or descending run is too easy to guess."
    if birth is not None and password in birth_date_forms(birth):
        return "Your date of birth is too easy to guess."
    return None


def require_strong(password: str, birth: dt.date | None = None) -> None:
    """Raise :class:`PasswordWeak` with the reason when ``password`` is refused."""
    reason = weakness(password, birth)
    if reason is not None:
        raise PasswordWeak(reason)


def hash_password(password: str) -> str:
    """The argon2id PHC string of an accepted password."""
    return _hasher.hash(password)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dates_spelled(password: str) -> tuple[dt.date, ...]:
    """Every date (1900-2099) the password spells in one of the birth-date orders."""
    if not PASSWORD.fullmatch(password):
        return ()
    orders = (
        (password[0:4], password[4:6], password[6:8]),  # YYYYMMDD
        (password[4:8], password[2:4], password[0:2]),  # DDMMYYYY
        (password[4:8], password[0:2], password[2:4]),  # MMDDYYYY
        (password[0:4], password[6:8], password[4:6]),  # YYYYDDMM
    )
    found = set()
    for year, month, day in orders:
        try:
            date = dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
        if 1900 <= date.year <= 2099:
            found.add(date)
    return tuple(sorted(found))


def birth_date_digest(settings: Settings, date: dt.date) -> str:
    """The keyed digest a spelled date is kept as (compared with the chip's birth date)."""
    return keyed_hash(settings.hash_key, date.isoformat(), DATE_PURPOSE)


def spelled_date_digests(settings: Settings, password: str) -> tuple[str, ...]:
    """:func:`birth_date_digest` of every date the password spells."""
    return tuple(birth_date_digest(settings, date) for date in dates_spelled(password))


def lock_seconds(strikes: int) -> int:
    """How long the ``strikes``-th lock lasts."""
    return LOCK_STEPS_S[min(max(strikes, 1), len(LOCK_STEPS_S)) - 1]


def _keys(credential_id: str) -> tuple[str, str]:
    base = "password:" + credential_id
    return base + ":lock", base + ":strikes"


def _locked(store: EphemeralStore, lock_key: str, now: float) -> PasswordLocked | None:
    until = store.get(lock_key)
    if until is None or float(until) <= now:
        return None
    retry = max(1, math.ceil(float(until) - now))
    return PasswordLocked(
        "Too many wrong passwords; try again later.", headers={"Retry-After": str(retry)}
    )


def _start_lock(store: EphemeralStore, lock_key: str, strikes_key: str, now: float) -> None:
    """Begin the next, longer lock, once however many attempts race here (under a store lock,
    the first racer starts it and the others find it running). The lock is set before the
    strike count moves on, so whoever sees the new count also sees the lock."""
    with store.lock(lock_key + ":start", ttl=5, wait=5):
        if _locked(store, lock_key, now) is not None:
            return
        seconds = lock_seconds(int(store.get(strikes_key) or 0) + 1)
        store.set(lock_key, repr(now + seconds), seconds + 60)
        store.incr(strikes_key, STRIKES_TTL_S)


def check_password(
    store: EphemeralStore,
    credential_id: str,
    password_hash: str,
    password: str,
    clock: Callable[[], float],
) -> None:
    """Return when ``password`` is right; raise :class:`PasswordInvalid` or
    :class:`PasswordLocked` otherwise (see the module invariants).

    The failure window is numbered by the count of locks so far: a lock moves every later
    attempt to a fresh window, and the attempts that reserved one of the first
    :data:`MAX_FAILURES` slots of a window are exactly the ones compared with the hash.
    """
    lock_key, strikes_key = _keys(credential_id)
    window = int(store.get(strikes_key) or 0)
    locked = _locked(store, lock_key, clock())
    if locked is not None:
        raise locked
    failures_key = f"password:{credential_id}:failures:{window}"
    slot = store.incr(failures_key, WINDOW_TTL_S)
    if slot > MAX_FAILURES:
        _start_lock(store, lock_key, strikes_key, clock())
        raise _locked(store, lock_key, clock()) or PasswordLocked()
    if not isinstance(password, str) or not PASSWORD.fullmatch(password):
        raise PasswordInvalid()
    if not _matches(password_hash, password):
        raise PasswordInvalid()
    store.decr(failures_key)
