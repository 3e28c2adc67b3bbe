"""Issuing, superseding and revoking credentials.

Invariants:
- :func:`issue_credential` supersedes every active credential of the same subject or openid in
  the caller's transaction before inserting the new one; the partial unique indexes on
  ``credentials`` make a concurrent second active credential fail instead of coexisting.
- ``expires_at`` = min(issue time + validity, end of the ID card's expiry day, UTC).
- Revocation never deletes: status becomes ``revoked`` with a reason and ``ended_at``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import IdCardExpired, LevelInvalid, NoActiveCredential
from bot.identity.masking import mask_name
from bot.identity.registry import record_name
from bot.vocab import CredentialReason, CredentialStatus, Level
from bot.wechat.cards import make_card_unavailable
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


@dataclass(frozen=True)
class CredentialView:
    """What the citizen sees of their credential (no ID number)."""

    level: Level
    status: CredentialStatus
    reason: CredentialReason | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    valid: bool
    masked_name: str


def new_credential_id() -> str:
    """An opaque random id (128 bits)."""
    return "cr_" + secrets.token_urlsafe(16)


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
    record = session.get(RegistryRecord, subject_id)
    if record is None:
        raise NoActiveCredential("The registry subject does not exist.")
    card_end = _card_end(record.expires_on)
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

    Their card-pack codes are queued for ``card/code/unavailable`` in the same transaction, so
    the card disappears from the citizen's card pack exactly when the credential ends.
    """
    rows = session.execute(
        select(Credential.id, Credential.card_code).where(
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
        make_card_unavailable(session, code=row.card_code or "", reason=reason)
    return ids


def revoke_credential(session: Session, credential_id: str, reason: CredentialReason) -> bool:
    """Revoke one credential if active; True when it was."""
    revoked = _end_active(
        session, Credential.id == credential_id, status=CredentialStatus.REVOKED, reason=reason
    )
    return bool(revoked)


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


def credential_view(session: Session, settings: Settings, openid: str) -> CredentialView:
    """The citizen's active credential, else their latest one; raises when they never had one."""
    credential = (
        active_credential(session, openid)
        or session.scalars(
            select(Credential)
            .where(Credential.openid == openid)
            .order_by(Credential.issued_at.desc())
            .limit(1)
        ).one_or_none()
    )
    if credential is None:
        raise NoActiveCredential()
    record = session.get(RegistryRecord, credential.subject_id)
    masked = mask_name(record_name(settings, record)) if record is not None else ""
    valid = credential.status == CredentialStatus.ACTIVE and credential.expires_at > utcnow()
    return CredentialView(
        Level(credential.level),
        CredentialStatus(credential.status),
        CredentialReason(credential.reason) if credential.reason else None,
        credential.issued_at,
        credential.expires_at,
        valid,
        masked,
    )
