"""Light enrolment: "I am me" by selfie, against the authority's reference photo.

Invariants:
- Order of checks: attempt limits, ID number shape, registry lookup, name, liveness (which
  consumes the challenge), face match. Only a full success writes a credential, in one
  transaction with the superseding of any earlier one, their domain events (the WeChat adapter
  turns them into the "credential issued" message and card updates) and, when the person's
  credential was held by another account, the takeover (:mod:`bot.identity.takeover`: a
  blocked person or one re-issued too often is refused there).
  (A missing reference embedding for the active pack is computed and cached on the way; that
  is derived data, not part of the attempt.)
- Every failed attempt counts against the openid, and name or face failures also against the
  ID number, in fixed one-day windows of the short-lived store (:mod:`bot.identity.attempts`).
  The slots are reserved before any lookup and refunded unless the outcome is charged, so the
  limits hold exactly under concurrency and nobody can probe other people's records.
- Selfie frames stay in memory; neither they nor the ID number reach the log or the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import DeviceNotBound
from bot.credentials.service import IssuedCredential, issue_credential, new_card_code
from bot.errors import WangzhengError
from bot.events import CredentialTakenOver, record
from bot.face.errors import FaceError
from bot.face.service import (
    FaceEngine,
    MatchResult,
    Requester,
    liveness_policy,
    verify_liveness,
)
from bot.identity.attempts import AttemptBudget
from bot.identity.errors import EnrolmentInProgress, RecordNotFound
from bot.identity.idnumber import parse_id_number
from bot.identity.lost import refuse_if_reported_lost_now
from bot.identity.registry import (
    find_record,
    id_lookup_hash,
    name_matches,
    record_photo,
    reference_embedding,
    store_embedding,
)
from bot.identity.takeover import admit_light_issue, record_takeover
from bot.vocab import Level
from storage.db import Database
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.registry_record import RegistryRecord

log = logging.getLogger(__name__)
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: FOR UPDATE NOWAIT found the row locked
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


def enroll_light(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    engine: FaceEngine,
    attempt: LightEnrolment,
    *,
    card_pack: bool = False,
    clock: Callable[[], float] = time.time,
) -> EnrolmentResult:
    """Run a light enrolment and issue the credential, or raise the reason it failed.

    With ``card_pack`` the credential gets an opaque card-pack code (``new_card_code``);
    ``clock`` (the app's) judges the liveness challenge's timing.
    """
    id_number = parse_id_number(attempt.id_number).value
    budget = AttemptBudget.reserve(
        store, settings, attempt.openid, id_lookup_hash(settings.hash_key, id_number)
    )
    try:
        return _enrol(
            database, store, settings, engine, attempt, id_number, budget, card_pack, clock
        )
    finally:
        budget.settle()


def _enrol(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    engine: FaceEngine,
    attempt: LightEnrolment,
    id_number: str,
    budget: AttemptBudget,
    card_pack: bool,
    clock: Callable[[], float],
) -> EnrolmentResult:
    """The attempt itself, once its slots are reserved; charges ``budget`` when it fails."""
    with database.transaction() as session:
        record = find_record(session, settings, id_number)
        if record is None:
            budget.fail(per_id=False)
            raise RecordNotFound("No registry record has this ID number.")
        if not name_matches(settings, record, attempt.name):
            budget.fail(per_id=True)
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
            clock=clock,
        )
    except FaceError:
        budget.fail(per_id=False)
        raise
    match = engine.match(liveness.best_sample.embedding, reference)
    if not match.decision:
        budget.fail(per_id=True)
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
        max_other_account_reissues_per_day=settings.enrol_max_other_account_reissues_per_day,
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
    max_other_account_reissues_per_day: int = 1,
) -> IssuedCredential:
    """Issue the light credential once the live face is proven, whichever way (engine or WeChat).

    One transaction: the superseding of earlier credentials, the new one, and their domain
    events (:mod:`bot.events`; the adapters turn them into messages after commit). Both
    enrolment modes end here, so a rule about issuing is written once: when the person's
    credential is held by another account, the takeover rules apply
    (:func:`admit_light_issue`: blocked after a dispute, or re-issued too often),
    and the takeover is recorded with its :class:`~bot.events.CredentialTakenOver` event in the
    same transaction (the holder is told by the adapter that subscribes).

    Concurrent issuances for one person never both succeed. On PostgreSQL the transaction first
    locks the person's registry row (``FOR UPDATE NOWAIT``): a second issuance is answered 409
    ``enrolment_in_progress`` at once, and the lock goes with the transaction, so a worker killed
    mid-issue leaves nothing to clear. Everywhere, the partial unique indexes are the last word:
    the loser of a race the row lock does not cover (SQLite, which ignores it; one account
    enrolling two people at once) fails there and gets the same 409, without the statement's
    parameters in any log. Either way at most one of them passes :func:`admit_light_issue`,
    which keeps the takeover limit exact.
    """
    try:
        with database.transaction() as session:
            session.execute(
                select(RegistryRecord.id)
                .where(RegistryRecord.id == subject_id)
                .with_for_update(nowait=True)
            )
            hold_current_device(session, citizen_id, device_id)
            now = utcnow()
            limit = max_other_account_reissues_per_day
            previous = admit_light_issue(session, subject_id, openid, limit, now)
            issued = issue_credential(
                session,
                subject_id=subject_id,
                level=Level.LIGHT,
                openid=openid,
                device_id=device_id,
                now=now,
                card_code=new_card_code() if card_pack else None,
            )
            # Now that this transaction writes: a lost-card report that committed meanwhile
            # (SQLite ignores the row lock above) refuses it; a later one revokes it.
            refuse_if_reported_lost_now(session, subject_id)
            if database.dialect != "postgresql":  # PostgreSQL: the lock above holds the phone
                hold_current_device(session, citizen_id, device_id)
            if previous is not None:
                _take_over(session, previous, issued.credential_id, citizen_id, now)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        log.info("light enrolment refused: another issuance for this subject is in progress")
        raise EnrolmentInProgress() from None
    except IntegrityError:
        log.info("light enrolment refused: a concurrent issuance won the active-credential index")
        raise EnrolmentInProgress() from None
    return issued


def hold_current_device(session: Session, citizen_id: int, device_id: str) -> None:
    """Raise :class:`DeviceNotBound` unless ``device_id`` is still the citizen's current phone,
    holding the citizen's row (``FOR UPDATE``) for the rest of the transaction.

    :func:`issue_light_credential` calls it before any write. On PostgreSQL that is enough: it
    takes the row lock a sign-in's first statement (:func:`bot.devices.sessions.ensure_citizen`)
    takes, so an enrolment racing a sign-in on another phone either holds the lock first (the
    sign-in waits, then revokes what this issued) or waits for the sign-in's commit and reads
    the new phone. Once held, nobody can change the row before this transaction ends, so asking
    again would read the same phone.

    SQLite ignores ``FOR UPDATE`` and its reads take no write lock, so a sign-in can commit
    between this read and the first write. There (any backend but PostgreSQL) it is asked a
    second time after the writes, when this transaction holds SQLite's write lock: a sign-in can
    then neither have slipped in unseen nor commit before it. Either way, never an active
    credential on a phone that was signed out (``tests/bot/test_enrol_device_race.py``, on both
    backends).
    """
    current = session.scalar(
        select(Citizen.current_device_id).where(Citizen.id == citizen_id).with_for_update()
    )
    if current != device_id:
        log.info("light enrolment refused: the account signed in on another phone meanwhile")
        raise DeviceNotBound("This phone was signed out: your account moved to another phone.")


def _take_over(
    session: Session, previous: Credential, credential_id: str, citizen_id: int, now: dt.datetime
) -> None:
    """Record the takeover and its event (the holder is told, with the new phone's model)."""
    citizen = session.get(Citizen, citizen_id)
    device_model = citizen.current_device_model if citizen else None
    takeover = record_takeover(session, previous, credential_id, device_model, now)
    record(
        session,
        CredentialTakenOver(
            takeover.takeover_id,
            takeover.previous_openid,
            credential_id,
            takeover.device_model,
            takeover.occurred_at,
        ),
    )
    log.info("light enrolment took over another account's credential")
