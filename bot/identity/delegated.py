"""Light enrolment with delegated liveness: a trusted platform checks the live face for us.

The platform (today WeChat 人脸核身, which compares the face with the national authority's
source) is a :class:`DelegatedFaceVerifier`, chosen by ``WANGZHENG_ENROL_LIVENESS=wechat`` and
wired in the app factory; this module never imports :mod:`bot.wechat`.

Invariants:
- Start checks, in the engine mode's order and with its counters: attempt limits, ID number
  shape, registry record, name. Only then is the platform asked for a session, so nobody probes
  records, or spends platform calls, past the limits. Each start also counts, before the check,
  against a daily cap per account (the account's attempt limit): a session is a paid call.
- A session id (``verify_id``) is bound to the citizen, openid and device that started it. It is
  kept sealed in the short-lived store, under a digest of the id, for at most
  :data:`SESSION_TTL_S`, judged by an injectable clock as well as the store's TTL. It is used
  once: the first confirm marks it used (an atomic
  ``store.add``) before asking the platform, so two parallel confirms cannot both issue. A
  platform outage lifts the mark again, so the same session can be confirmed after Retry-After.
- A credential is issued only when the platform reports success, and through the same
  :func:`bot.identity.enrolment.issue_light_credential` as the engine mode.
- Every refusal counts against the caller's openid; a refusal of the face or identity by the
  platform also counts against the ID number. Slots are reserved before the work and refunded
  unless charged (:mod:`bot.identity.attempts`), as in the engine mode.
- The ID number and name are never logged, and reach the store only inside the sealed state.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from bot.config import Settings
from bot.credentials.service import IssuedCredential
from bot.crypto import same, seal_text, token_digest, unseal_text
from bot.errors import WangzhengError
from bot.identity.attempts import DAY_S, AttemptBudget, TooManyAttempts, charge_failure
from bot.identity.enrolment import NameMismatch, issue_light_credential
from bot.identity.errors import RecordNotFound
from bot.identity.idnumber import parse_id_number
from bot.identity.registry import find_record, id_lookup_hash, name_matches, record_name
from storage.db import Database
from storage.ephemeral import EphemeralStore

log = logging.getLogger(__name__)
SESSION_TTL_S = 900  # WeChat allows an hour; a person finishes the scan in a minute or two
SEAL_PURPOSE = "enrol.delegated"
Clock = Callable[[], float]
REASONS = ("passed", "identity_mismatch", "face_mismatch", "not_completed", "failed")


class DelegatedSessionInvalid(WangzhengError):
    """The face verification session is unknown, expired, already used, or not yours."""

    code = "verify_id_invalid"
    status = 400


class DelegatedFaceFailed(WangzhengError):
    """The face verification did not succeed; start again."""

    code = "face_verification_failed"
    status = 422


_FAILED_MESSAGES = {
    "identity_mismatch": "The name and ID number do not match the authority's record.",
    "face_mismatch": "The face does not match the authority's photo of this person.",
    "not_completed": "The face verification was not completed on the phone; start again.",
}


class WrongEnrolmentMode(WangzhengError):
    """This deployment enrols with the other liveness mode."""

    code = "enrolment_mode_unavailable"
    status = 409


@dataclass(frozen=True)
class DelegatedSession:
    """What the platform returns at start; ``state`` is opaque here and given back at confirm."""

    verify_id: str
    expires_in: int
    state: str


@dataclass(frozen=True)
class DelegatedOutcome:
    """The platform's verdict.

    ``reason`` is one of :data:`REASONS`; ``identity_mismatch`` and ``face_mismatch`` count
    against the ID number, the others (the user gave up, the phone failed) only against the
    account. ``result_code`` is the platform's own number (WeChat's ``verify_ret``).
    """

    passed: bool
    result_code: int
    reason: str

    @property
    def identity_refused(self) -> bool:
        """The platform saw a face or an identity that is not this person's."""
        return self.reason in ("identity_mismatch", "face_mismatch")


_FACE_VERIFIER = "wangzheng.delegated_face_verifier"


class DelegatedFaceVerifier(Protocol):
    """A platform that verifies a live face against the authority source (WeChat 人脸核身).

    ``start`` raises a :class:`WangzhengError` when the platform refuses or is unreachable;
    ``outcome`` raises :class:`DelegatedSessionInvalid` when the platform does not know the
    session (unknown, expired, other account), and any other error for an outage.
    """

    def start(self, *, openid: str, name: str, id_number: str) -> DelegatedSession:
        """Open a verification session for this person, to be completed on the user's phone."""
        ...

    def outcome(self, *, openid: str, verify_id: str, state: str) -> DelegatedOutcome:
        """The result of the session the user completed (or not) on their phone."""
        ...


def set_face_verifier(app: Flask, verifier: DelegatedFaceVerifier) -> None:
    """Install the app's delegated face verifier (``WANGZHENG_ENROL_LIVENESS=wechat``; the app
    factory passes the WeChat one, so this package never imports the adapter)."""
    app.extensions[_FACE_VERIFIER] = verifier


def face_verifier(app: Flask | None = None) -> DelegatedFaceVerifier:
    """The delegated face verifier; only wired when the deployment enrols in that mode."""
    return (app or current_app).extensions[_FACE_VERIFIER]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DelegatedClaim:
    """Who the citizen says they are, from an authenticated mini-program session."""

    citizen_id: int
    openid: str
    device_id: str
    name: str
    id_number: str


@dataclass(frozen=True)
class DelegatedStart:
    """The session id for ``wx.requestFacialVerify`` and how long we keep it."""

    verify_id: str
    expires_in: int


@dataclass(frozen=True)
class _Entry:
    citizen_id: int
    openid: str
    device_id: str
    subject_id: int
    id_hash: str
    state: str
    expires_at: float


def require_mode(settings: Settings, mode: str) -> None:
    """Refuse an endpoint of the liveness mode this deployment does not use."""
    if settings.enrol_liveness != mode:
        other = (
            "POST /api/v1/enrollments/wechat-face"
            if settings.enrol_liveness == "wechat"
            else "POST /api/v1/enrollments/light with a liveness challenge"
        )
        raise WrongEnrolmentMode(
            f"This deployment enrols with {settings.enrol_liveness} liveness; use {other}.",
            details={"mode": settings.enrol_liveness},
        )


def _reserve_start(store: EphemeralStore, settings: Settings, openid: str, now: float) -> None:
    """Count a start before the platform is asked (each one is a paid call), exactly.

    The counter is incremented first and compared after, so parallel starts cannot all pass a
    check made before any of them counted. The limit is the account's daily attempt limit.
    """
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%d")
    started = store.incr(f"enrol:delegated:starts:{openid}:{day}", DAY_S)
    if started > settings.enrol_max_failures_per_openid:
        raise TooManyAttempts("Too many face verifications started from this account today.")


def _key(verify_id: str, kind: str) -> str:
    return f"enrol:delegated:{kind}:{token_digest(verify_id)}"


def _seal(settings: Settings, entry: _Entry) -> str:
    plain = json.dumps(entry.__dict__, separators=(",", ":"))
    return base64.b64encode(seal_text(settings.data_key, plain, SEAL_PURPOSE)).decode()


def _unseal(settings: Settings, raw: str | None) -> _Entry | None:
    if raw is None:
        return None
    plain = unseal_text(settings.data_keyring, base64.b64decode(raw), SEAL_PURPOSE)
    return _Entry(**json.loads(plain))


def start_delegated_enrolment(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    verifier: DelegatedFaceVerifier,
    claim: DelegatedClaim,
    *,
    clock: Clock = time.time,
) -> DelegatedStart:
    """Check the claim against the registry, then open a platform session bound to this device."""
    id_number = parse_id_number(claim.id_number).value
    id_hash = id_lookup_hash(settings.hash_key, id_number)
    # The exact cap on paid starts first, then the failure budget: a start refused by the cap
    # never holds one of the account's failure slots, so parallel starts fill the cap exactly.
    _reserve_start(store, settings, claim.openid, clock())
    budget = AttemptBudget.reserve(store, settings, claim.openid, id_hash)
    try:
        with database.transaction() as session:
            record = find_record(session, settings, id_number)
            if record is None:
                budget.fail(per_id=False)
                raise RecordNotFound("No registry record has this ID number.")
            if not name_matches(settings, record, claim.name):
                budget.fail(per_id=True)
                raise NameMismatch()
            subject_id = record.id
            # The authority's spelling, which is what the platform compares against.
            authority_name = record_name(settings, record)
    finally:
        budget.settle()
    started = verifier.start(openid=claim.openid, name=authority_name, id_number=id_number)
    ttl = max(1, min(int(started.expires_in), SESSION_TTL_S))
    entry = _Entry(
        claim.citizen_id,
        claim.openid,
        claim.device_id,
        subject_id,
        id_hash,
        started.state,
        clock() + ttl,
    )
    store.set(_key(started.verify_id, "session"), _seal(settings, entry), ttl)
    log.info("delegated face verification started")
    return DelegatedStart(started.verify_id, ttl)


def confirm_delegated_enrolment(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    verifier: DelegatedFaceVerifier,
    *,
    citizen_id: int,
    openid: str,
    device_id: str,
    verify_id: str,
    card_pack: bool = False,
    clock: Clock = time.time,
) -> IssuedCredential:
    """Ask the platform for the result of ``verify_id``; issue the light credential on success."""
    entry = _unseal(settings, store.get(_key(verify_id, "session")))
    bound = (
        entry is not None
        and entry.expires_at > clock()  # judged here too, not only by the store's TTL
        and entry.citizen_id == citizen_id
        and same(entry.openid, openid) & same(entry.device_id, device_id)
    )
    if entry is None or not bound:
        charge_failure(store, openid)
        raise DelegatedSessionInvalid()
    budget = AttemptBudget.reserve(store, settings, entry.openid, entry.id_hash)
    try:
        used = _key(verify_id, "used")
        if not store.add(used, "1", SESSION_TTL_S):
            budget.fail(per_id=False)
            raise DelegatedSessionInvalid("This face verification was already used; start again.")
        try:
            outcome = verifier.outcome(openid=entry.openid, verify_id=verify_id, state=entry.state)
        except DelegatedSessionInvalid:
            budget.fail(per_id=False)
            raise
        except Exception:
            store.delete(used)  # an outage must not burn the citizen's completed face scan
            raise
        store.delete(_key(verify_id, "session"))
        if not outcome.passed:
            budget.fail(per_id=outcome.identity_refused)
            log.info("delegated face verification refused: result=%s", outcome.result_code)
            raise DelegatedFaceFailed(
                _FAILED_MESSAGES.get(outcome.reason, DelegatedFaceFailed.__doc__),
                details={"reason": outcome.reason, "result": outcome.result_code},
            )
    finally:
        budget.settle()
    issued = issue_light_credential(
        database,
        citizen_id=citizen_id,
        openid=openid,
        device_id=device_id,
        subject_id=entry.subject_id,
        card_pack=card_pack,
        max_other_account_reissues_per_day=settings.enrol_max_other_account_reissues_per_day,
    )
    log.info("light enrolment succeeded: delegated face verification")
    return issued
