"""Light enrolment: "I am me" by selfie, against the authority's reference photo.

Invariants:
- Order of checks: attempt limits, ID number shape, registry lookup, name, liveness (which
  consumes the challenge), face match. Only a full success writes a credential, in one
  transaction with the superseding of any earlier one and the "credential issued"
  notification in the outbox. (A missing reference embedding for the active pack is computed
  and cached on the way; that is derived data, not part of the attempt.)
- Every failed attempt counts against the openid, and name or face failures also against the
  ID number, in fixed one-day windows of the short-lived store; past the limit the attempt is
  refused before any lookup, so nobody can probe other people's records.
- Selfie frames stay in memory; neither they nor the ID number reach the log or the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.credentials.service import IssuedCredential, issue_credential
from bot.errors import RateLimited, WangzhengError
from bot.face.errors import FaceError
from bot.face.service import (
    FaceEngine,
    MatchResult,
    Requester,
    liveness_policy,
    verify_liveness,
)
from bot.identity.errors import RecordNotFound
from bot.identity.idnumber import parse_id_number
from bot.identity.registry import (
    find_record,
    id_lookup_hash,
    name_matches,
    record_photo,
    reference_embedding,
    store_embedding,
)
from bot.vocab import Level
from bot.wechat.cards import new_card_code
from bot.wechat.notify import enqueue_notification
from storage.db import Database
from storage.ephemeral import EphemeralStore

log = logging.getLogger(__name__)
DAY_S = 86_400
FACE_CHANGED_HINT = (
    "If your face has changed greatly (bone structure, major scars), renew your ID card at a "
    "police station; the reference photo comes from it."
)


class NameMismatch(WangzhengError):
    """The name does not match the registry record for this ID number."""

    code = "name_mismatch"
    status = 422


class FaceMismatch(WangzhengError):
    """The selfie does not match the reference photo."""

    code = "face_mismatch"
    status = 422


class TooManyAttempts(RateLimited):
    """Too many failed enrolment attempts today."""

    code = "too_many_attempts"


@dataclass(frozen=True)
class LightEnrolment:
    """One enrolment attempt by an authenticated mini-program session."""

    citizen_id: int
    openid: str
    device_id: str
    name: str
    id_number: str
    challenge_id: str
    frames: list[bytes]


@dataclass(frozen=True)
class EnrolmentResult:
    """The issued credential and the match that justified it."""

    credential: IssuedCredential
    match: MatchResult


def _counter_keys(openid: str, id_hash: str | None) -> tuple[str, str | None]:
    day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    by_openid = f"enrol:fail:openid:{openid}:{day}"
    return by_openid, (f"enrol:fail:id:{id_hash}:{day}" if id_hash else None)


def _check_limits(store: EphemeralStore, settings: Settings, keys: tuple[str, str | None]) -> None:
    """Refuse before doing any work when either counter is at its limit."""
    by_openid, by_id = keys
    if int(store.get(by_openid) or 0) >= settings.enrol_max_failures_per_openid:
        raise TooManyAttempts("Too many failed attempts from this account today.")
    if by_id and int(store.get(by_id) or 0) >= settings.enrol_max_failures_per_id:
        raise TooManyAttempts("Too many failed attempts for this ID number today.")


def _count_failure(store: EphemeralStore, keys: tuple[str, str | None], *, per_id: bool) -> None:
    by_openid, by_id = keys
    store.incr(by_openid, DAY_S)
    if per_id and by_id:
        store.incr(by_id, DAY_S)


def enroll_light(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    engine: FaceEngine,
    attempt: LightEnrolment,
    *,
    card_pack: bool = False,
) -> EnrolmentResult:
    """Run a light enrolment and issue the credential, or raise the reason it failed.

    With ``card_pack`` the credential gets an opaque card-pack code (``new_card_code``).
    """
    id_number = parse_id_number(attempt.id_number).value
    keys = _counter_keys(attempt.openid, id_lookup_hash(settings.hash_key, id_number))
    _check_limits(store, settings, keys)
    with database.transaction() as session:
        record = find_record(session, settings, id_number)
        if record is None:
            _count_failure(store, keys, per_id=False)
            raise RecordNotFound("No registry record has this ID number.")
        if not name_matches(settings, record, attempt.name):
            _count_failure(store, keys, per_id=True)
            raise NameMismatch()
        subject_id = record.id
        reference = reference_embedding(session, record.id, engine.pack_id)
        if reference is None:
            # The pack changed since import: embed the kept reference photo once, now.
            photo = record_photo(settings, record)
            reference = engine.analyse(photo, purpose="reference").embedding
            store_embedding(session, record.id, engine.pack_id, reference)
    try:
        liveness = verify_liveness(
            store,
            engine,
            attempt.challenge_id,
            attempt.frames,
            requester=Requester(attempt.citizen_id, attempt.device_id),
            policy=liveness_policy(settings),
            scope=f"subject:{subject_id}",
        )
    except FaceError:
        _count_failure(store, keys, per_id=False)
        raise
    match = engine.match(liveness.best_sample.embedding, reference)
    if not match.decision:
        _count_failure(store, keys, per_id=True)
        log.info("light enrolment failed: face_mismatch similarity=%.3f", match.similarity)
        raise FaceMismatch(
            "The selfie does not match the reference photo. " + FACE_CHANGED_HINT,
            details={"hint": FACE_CHANGED_HINT},
        )
    issued = issue_light_credential(
        database,
        citizen_id=attempt.citizen_id,
        openid=attempt.openid,
        device_id=attempt.device_id,
        subject_id=subject_id,
        card_pack=card_pack,
    )
    log.info("light enrolment succeeded: similarity=%.3f", match.similarity)
    return EnrolmentResult(issued, match)


def issue_light_credential(
    database: Database,
    *,
    citizen_id: int,
    openid: str,
    device_id: str,
    subject_id: int,
    card_pack: bool,
) -> IssuedCredential:
    """Issue the light credential once the live face is proven, whichever way (engine or WeChat).

    One transaction: the superseding of earlier credentials, the new one, and the "credential
    issued" notification in the outbox. Both enrolment modes end here, so a rule about issuing
    (for example about taking over another account's credential) is written once.
    """
    with database.transaction() as session:
        issued = issue_credential(
            session,
            subject_id=subject_id,
            level=Level.LIGHT,
            openid=openid,
            device_id=device_id,
            card_code=new_card_code() if card_pack else None,
        )
        enqueue_notification(session, citizen_id, "credential_issued")
    return issued
