"""The upgraded issuance at a terminal: chip checks, then one transaction that issues.

Invariants:
- Nothing is written unless every check passes (:mod:`bot.terminals.chip`, the password against
  the birth date, the optional live face). Then one transaction: a row lock on the person's
  registry record (``FOR UPDATE NOWAIT`` on PostgreSQL), the upgraded credential through
  :func:`bot.credentials.service.issue_credential` (which supersedes the person's and the
  account's active credentials with the usual reasons), its password hash, and the lifting of a
  dispute's light-enrolment block (the person was checked in front of a terminal).
- The session is single use: taken before the checks, given back when they refuse (the terminal
  may read the card again, within the session's life), kept once the credential is issued. A
  password that turns out to be the birth date sends the session back to the password step.
- The credential is bound to the device that claimed the session, which must still be the
  citizen's current device.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.config import Settings
from bot.credentials.service import IssuedCredential, issue_credential, new_card_code
from bot.face.engine import FaceEngine, MatchResult
from bot.identity.errors import EnrolmentInProgress
from bot.identity.takeover import lift_light_enrolment_block
from bot.terminals.chip import ChipData, check_chip_photo, match_live_face, match_registry
from bot.terminals.errors import PasswordWeak, SessionNotReady
from bot.terminals.passwords import birth_date_digest
from bot.terminals.sessions import TerminalSession, begin_issue, end_issue, save_session
from bot.vocab import Level, TerminalSessionStatus
from storage.db import Database
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow
from storage.models.citizen import Citizen
from storage.models.credential_password import CredentialPassword
from storage.models.registry_record import RegistryRecord

log = logging.getLogger(__name__)
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class UpgradedIssue:
    """The upgraded credential just issued, who it went to, and the live-face match if any."""

    credential: IssuedCredential
    citizen_id: int
    face_match: MatchResult | None


def issue_upgraded(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    engine: FaceEngine | None,
    *,
    terminal_id: str,
    session_id: str,
    chip: ChipData,
    now: float,
    card_pack: bool = False,
) -> UpgradedIssue:
    """Check the chip data of session ``session_id`` and issue; raise the first refusal.

    With ``card_pack`` the credential gets an opaque card-pack code (``new_card_code``); the
    WeChat adapter adds it to the card pack when it sees the ``CredentialIssued`` event.
    """
    check_chip_photo(chip.photo)
    session = begin_issue(store, terminal_id, session_id, now)
    issued = False
    try:
        card_code = new_card_code() if card_pack else None
        result = _issue(database, settings, engine, session, chip, now, card_code)
        issued = True
        return result
    except PasswordWeak:
        # The session goes back to the password step; the weak hash is dropped.
        save_session(
            store,
            replace(
                session,
                status=TerminalSessionStatus.CLAIMED,
                password_hash=None,
                password_date_digests=(),
            ),
            now,
        )
        raise
    finally:
        end_issue(store, session, issued, now)


def _issue(
    database: Database,
    settings: Settings,
    engine: FaceEngine | None,
    session: TerminalSession,
    chip: ChipData,
    now: float,
    card_code: str | None,
) -> UpgradedIssue:
    assert session.password_hash and session.openid and session.device_id  # noqa: S101 - READY
    assert session.citizen_id is not None  # noqa: S101 - a READY session has its claimer
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    with database.transaction() as db:
        record = match_registry(db, settings, chip, today)
        subject_id, birth = record.id, record.birth_date
    if birth_date_digest(settings, birth) in session.password_date_digests:
        raise PasswordWeak("Your date of birth is too easy to guess; choose another password.")
    face_match = None
    if chip.live_face is not None:
        if engine is None:
            raise SessionNotReady("Live face checks are not available.")
        face_match = match_live_face(
            engine, chip.photo, chip.live_face, settings.face_chip_threshold_relief
        )
    try:
        with database.transaction() as db:
            db.execute(
                select(RegistryRecord.id)
                .where(RegistryRecord.id == subject_id)
                .with_for_update(nowait=True)
            )
            citizen = db.get(Citizen, session.citizen_id)
            if citizen is None or citizen.current_device_id != session.device_id:
                raise SessionNotReady("The phone that claimed the session is no longer current.")
            credential = issue_credential(
                db,
                subject_id=subject_id,
                level=Level.UPGRADED,
                openid=session.openid,
                device_id=session.device_id,
                now=utcnow(),
                card_code=card_code,
            )
            db.add(
                CredentialPassword(
                    credential_id=credential.credential_id, password_hash=session.password_hash
                )
            )
            lift_light_enrolment_block(db, subject_id)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise EnrolmentInProgress() from None
    except IntegrityError:
        raise EnrolmentInProgress() from None
    log.info("upgraded credential issued at a terminal")
    return UpgradedIssue(credential, session.citizen_id, face_match)
