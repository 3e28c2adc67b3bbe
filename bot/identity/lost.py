"""A lost ID card: reported by the citizen or by the authority, until the authority clears it.

Invariants:
- Reporting flags the registry record (``lost_card_expires_on`` = the expiry of the card the
  registry knows, so terminals refuse that card's chip) and revokes every active credential of
  the person, whatever account holds it, with reason ``id_card_reported_lost``, in one
  transaction that first locks the record's row: an enrolment racing the report either commits
  before it (and its credential is revoked by it) or is refused after it. The revocations record
  :class:`~bot.events.CredentialEnded`, so the card pack and the holder's message follow.
- While the flag is on, light enrolment is refused (:class:`IdCardReportedLost`); upgraded
  enrolment is refused by the terminal's chip check. Only ``flask registry clear-lost`` lifts it
  (a replacement card with a later expiry, once imported, is accepted by terminals anyway).
- Reporting again changes nothing and says so. Every report, and every clearing, appends a row
  to the durable audit (:class:`~storage.models.lost_card_report.LostCardReport`: record, actor,
  action, whether it changed anything, credentials ended) in its own transaction, and records
  :class:`~bot.events.CardReportedLost` so the holders' histories show it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.credentials.errors import NoActiveCredential
from bot.credentials.service import revoke_subject
from bot.errors import Forbidden
from bot.events import CardReportedLost, record
from bot.vocab import CredentialReason
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.lost_card_report import LostCardReport
from storage.models.registry_record import RegistryRecord

log = logging.getLogger(__name__)


class IdCardReportedLost(Forbidden):
    """The person's ID card was reported lost; enrolment waits until the authority clears it."""

    code = "id_card_reported_lost"


@dataclass(frozen=True)
class LostReport:
    """What one report did."""

    record_id: int
    newly_reported: bool
    revoked: int
    audit_id: int = 0


def is_reported_lost(record: RegistryRecord) -> bool:
    """True while the card the registry knows for the person is flagged lost."""
    return record.lost_card_expires_on is not None and (
        record.lost_card_expires_on == record.expires_on
    )


def refuse_if_lost(record: RegistryRecord | None) -> None:
    """Raise :class:`IdCardReportedLost` for a flagged record (enrolment checks)."""
    if record is not None and is_reported_lost(record):
        raise IdCardReportedLost(
            "This ID card was reported lost. The authority clears the report "
            "(flask registry clear-lost) once the card is found or replaced."
        )


def refuse_if_reported_lost_now(session: Session, subject_id: int) -> None:
    """:func:`refuse_if_lost` on the record as committed now (columns, not the session's copy);
    an issuance calls it after its insert, so a report that committed meanwhile is seen."""
    row = session.execute(
        select(RegistryRecord.lost_card_expires_on, RegistryRecord.expires_on).where(
            RegistryRecord.id == subject_id
        )
    ).one_or_none()
    if row is not None and row.lost_card_expires_on == row.expires_on:
        raise IdCardReportedLost(
            "This ID card was reported lost. The authority clears the report "
            "(flask registry clear-lost) once the card is found or replaced."
        )


def _audit(
    session: Session, record_id: int, *, actor: str, action: str, changed: bool, revoked: int = 0
) -> int:
    """Append one row to the lost-card audit; returns its id."""
    row = LostCardReport(
        record_id=record_id, actor=actor, action=action, changed=changed,
        credentials_revoked=revoked,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def report_lost(
    session: Session, subject_id: int, *, actor: str, citizen_id: int | None = None
) -> LostReport:
    """Flag the person's card lost and revoke their credentials (idempotent); ``actor`` is
    ``citizen`` (then ``citizen_id`` is the reporter) or ``authority``. Audited."""
    registry_row = session.get(RegistryRecord, subject_id, with_for_update=True)
    if registry_row is None:
        raise NoActiveCredential("The registry record does not exist.")
    newly = not is_reported_lost(registry_row)
    registry_row.lost_card_expires_on = registry_row.expires_on
    revoked = revoke_subject(session, subject_id, CredentialReason.ID_CARD_REPORTED_LOST)
    audit_id = _audit(
        session, registry_row.id, actor=actor, action="report", changed=newly or bool(revoked),
        revoked=len(revoked),
    )  # fmt: skip
    record(session, CardReportedLost(subject_id, actor, citizen_id, newly, revoked))
    log.warning(
        "ID card reported lost by the %s: record %s, %s, %d credential(s) revoked",
        actor, registry_row.id, "newly flagged" if newly else "already flagged", len(revoked),
    )  # fmt: skip
    return LostReport(registry_row.id, newly, len(revoked), audit_id)


def report_older_card_lost(session: Session, subject_id: int, expires_on: dt.date) -> int:
    """The authority flags an older card (by its expiry) lost, so terminals refuse its chip;
    credentials and enrolment are untouched. Audited; returns the audit row's id."""
    registry_row = session.get(RegistryRecord, subject_id, with_for_update=True)
    if registry_row is None:
        raise NoActiveCredential("The registry record does not exist.")
    changed = registry_row.lost_card_expires_on != expires_on
    registry_row.lost_card_expires_on = expires_on
    return _audit(session, subject_id, actor="authority", action="report_older", changed=changed)


def report_lost_by_holder(session: Session, openid: str) -> LostReport:
    """The citizen's own report: the person behind their latest credential."""
    subject_id = session.scalars(
        select(Credential.subject_id)
        .where(Credential.openid == openid)
        .order_by(Credential.issued_at.desc())
        .limit(1)
    ).one_or_none()
    if subject_id is None:
        raise NoActiveCredential("You have no credential, so no card to report here.")
    citizen_id = session.scalars(select(Citizen.id).where(Citizen.openid == openid)).one_or_none()
    return report_lost(session, subject_id, actor="citizen", citizen_id=citizen_id)


@dataclass(frozen=True)
class LostCleared:
    """What one clearing did."""

    cleared: bool
    audit_id: int


def clear_lost(session: Session, subject_id: int) -> LostCleared:
    """Lift the report (the authority); ``cleared`` is True when the record was flagged.
    Idempotent and audited."""
    registry_row = session.get(RegistryRecord, subject_id, with_for_update=True)
    if registry_row is None:
        raise NoActiveCredential("The registry record does not exist.")
    cleared = registry_row.lost_card_expires_on is not None
    registry_row.lost_card_expires_on = None
    audit_id = _audit(session, subject_id, actor="authority", action="clear", changed=cleared)
    if cleared:
        log.warning("lost ID card report cleared by the authority: record %s", registry_row.id)
    return LostCleared(cleared, audit_id)
