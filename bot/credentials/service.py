"""Issuing, superseding and revoking credentials.

Invariants:
- :func:`issue_credential` supersedes every active credential of the same subject or openid in
  the caller's transaction before inserting the new one; the partial unique indexes on
  ``credentials`` make a concurrent second active credential fail instead of coexisting.
- ``expires_at`` = min(issue time + validity, end of the ID card's expiry day, UTC).
- Revocation never deletes: status becomes ``revoked`` with a reason and ``ended_at``.
- Every credential that becomes active records :class:`~bot.events.CredentialIssued`, every one
  that ends records :class:`~bot.events.CredentialEnded` (with its reason and card code), in the
  same transaction; this module does not know who listens (card pack, messages, later terminals
  and payments subscribe in ``bot/events``' bus).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from bot.credentials.errors import IdCardExpired, LevelInvalid, NoActiveCredential
from bot.events import CredentialEnded, CredentialIssued, record
from bot.vocab import CredentialReason, CredentialStatus, Level
from storage.models.base import utcnow
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.registry_record import RegistryRecord

DEFAULT_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class IssuedCredential:
    """The credential just issued, and the id of the one it superseded (if any)."""

    credential_id: str
    subject_id: int
    level: Level
    openid: str
    device_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    superseded_ids: tuple[str, ...] = ()
    card_code: str | None = None


def new_credential_id() -> str:
    """An opaque random id (128 bits)."""
    return "cr_" + secrets.token_urlsafe(16)


def new_card_code() -> str:
    """A fresh opaque card-pack code (128 random bits, 32 hex characters).

    Never derived from an ID number or any personal data; the card pack shows it in its QR.
    """
    return secrets.token_hex(16)


def _card_end(expires_on: dt.date) -> dt.datetime:
    """The last instant of the ID card's expiry day, UTC."""
    return dt.datetime.combine(expires_on, dt.time.max, tzinfo=dt.UTC)


def issue_credential(
    session: Session,
    *,
    subject_id: int,
    level: Level,
    openid: str,
    device_id: str,
    validity: dt.timedelta = DEFAULT_VALIDITY,
    now: dt.datetime | None = None,
    card_code: str | None = None,
) -> IssuedCredential:
    """Issue a credential for the registry subject, bound to ``openid`` and ``device_id``.

    Supersedes any active credential of the subject or the openid: reason
    ``reissued_to_other_account`` for the subject's credential held by another openid,
    ``reissued`` for the rest.
    Raises :class:`IdCardExpired` when the card's expiry is already past.
    """
    if level not in tuple(Level):
        raise LevelInvalid()
    level = Level(level)
    now = now or utcnow()
    registry_row = session.get(RegistryRecord, subject_id)
    if registry_row is None:
        raise NoActiveCredential("The registry subject does not exist.")
    card_end = _card_end(registry_row.expires_on)
    if card_end <= now:
        raise IdCardExpired()
    # The subject's credential held by another account ends with its own reason: a takeover
    # (see bot.identity.takeover), never confused with the holder's own re-enrolment.
    previous = _end_active(
        session,
        (Credential.subject_id == subject_id) & (Credential.openid != openid),
        status=CredentialStatus.SUPERSEDED,
        reason=CredentialReason.REISSUED_TO_OTHER_ACCOUNT,
        now=now,
    ) + _end_active(
        session,
        or_(Credential.subject_id == subject_id, Credential.openid == openid),
        status=CredentialStatus.SUPERSEDED,
        reason=CredentialReason.REISSUED,
        now=now,
    )
    credential = Credential(
        id=new_credential_id(),
        subject_id=subject_id,
        level=level,
        openid=openid,
        device_id=device_id,
        status=CredentialStatus.ACTIVE,
        issued_at=now,
        expires_at=min(now + validity, card_end),
        card_code=card_code,
    )
    session.add(credential)
    session.flush()
    record(
        session,
        CredentialIssued(credential.id, subject_id, openid, level, card_code, previous),
    )
    return IssuedCredential(
        credential.id,
        subject_id,
        level,
        openid,
        device_id,
        now,
        credential.expires_at,
        previous,
        card_code,
    )


def _end_active(
    session: Session,
    condition: ColumnElement[bool],
    *,
    status: CredentialStatus,
    reason: CredentialReason,
    now: dt.datetime | None = None,
) -> tuple[str, ...]:
    """End every active credential matching ``condition``; returns their ids.

    Each records :class:`CredentialEnded` in the same transaction (the card pack's subscriber
    makes its card code unavailable after commit, exactly when the credential ends).
    """
    rows = session.execute(
        select(Credential.id, Credential.openid, Credential.card_code).where(
            Credential.status == CredentialStatus.ACTIVE, condition
        )
    ).all()
    if not rows:
        return ()
    ids = tuple(row.id for row in rows)
    session.execute(
        update(Credential)
        .where(Credential.id.in_(ids))
        .values(status=status, reason=reason[:64], ended_at=now or utcnow())
    )
    for row in rows:
        record(session, CredentialEnded(row.id, row.openid, status, reason, row.card_code))
    return ids


def revoke_credential(session: Session, credential_id: str, reason: CredentialReason) -> bool:
    """Revoke one credential if active; True when it was."""
    revoked = _end_active(
        session, Credential.id == credential_id, status=CredentialStatus.REVOKED, reason=reason
    )
    return bool(revoked)


def revoke_subject(session: Session, subject_id: int, reason: CredentialReason) -> tuple[str, ...]:
    """Revoke every active credential of the registry subject (any account); returns their ids."""
    return _end_active(
        session, Credential.subject_id == subject_id, status=CredentialStatus.REVOKED, reason=reason
    )


def revoke_holder(session: Session, openid: str, reason: CredentialReason) -> tuple[str, ...]:
    """Revoke the account's active credential, if any; returns the ids revoked (idempotent)."""
    return _end_active(
        session, Credential.openid == openid, status=CredentialStatus.REVOKED, reason=reason
    )


def revoke_for_device_change(session: Session, citizen: int | str, device_id: str) -> int:
    """Revoke (reason ``device_changed``) the citizen's active credential bound to ``device_id``.

    ``citizen`` is the citizen's row id or openid; ``device_id`` is the *old* device (the
    ``previous_device_id`` that ``open_session`` returns). Returns how many were revoked.
    """
    openid = citizen
    if isinstance(citizen, int):
        row = session.get(Citizen, citizen)
        if row is None:
            return 0
        openid = row.openid
    condition = (Credential.openid == openid) & (Credential.device_id == device_id)
    revoked = _end_active(
        session, condition, status=CredentialStatus.REVOKED, reason=CredentialReason.DEVICE_CHANGED
    )
    return len(revoked)


def active_credential(session: Session, openid: str) -> Credential | None:
    """The openid's active credential, or None."""
    return session.scalars(
        select(Credential).where(
            Credential.openid == openid, Credential.status == CredentialStatus.ACTIVE
        )
    ).one_or_none()
