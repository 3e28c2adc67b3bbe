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
- Reporting again changes nothing and says so; every report is logged with who made it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.credentials.errors import NoActiveCredential
from bot.credentials.service import revoke_subject
from bot.errors import Forbidden
from bot.vocab import CredentialReason
from storage.models.credential import Credential
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


def report_lost(session: Session, subject_id: int, *, actor: str) -> LostReport:
    """Flag the person's card lost and revoke their credentials (idempotent); ``actor`` is
    ``citizen`` or ``authority``, for the log."""
    record = session.get(RegistryRecord, subject_id, with_for_update=True)
    if record is None:
        raise NoActiveCredential("The registry record does not exist.")
    newly = not is_reported_lost(record)
    record.lost_card_expires_on = record.expires_on
    revoked = revoke_subject(session, subject_id, CredentialReason.ID_CARD_REPORTED_LOST)
    log.warning(
        "ID card reported lost by the %s: record %s, %s, %d credential(s) revoked",
        actor, record.id, "newly flagged" if newly else "already flagged", len(revoked),
    )  # fmt: skip
    return LostReport(record.id, newly, len(revoked))


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
    return report_lost(session, subject_id, actor="citizen")


def clear_lost(session: Session, subject_id: int) -> bool:
    """Lift the report (the authority); True when the record was flagged."""
    record = session.get(RegistryRecord, subject_id, with_for_update=True)
    if record is None or record.lost_card_expires_on is None:
        return False
    record.lost_card_expires_on = None
    log.warning("lost ID card report cleared by the authority: record %s", record.id)
    return True
