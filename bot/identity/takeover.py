"""Re-issue of a person's credential to another WeChat account: recorded, limited, disputable.

Invariants:
- A light enrolment for a subject whose active credential is held by another openid is a
  *takeover*. In the issuing transaction :func:`admit_light_issue`
  refuses it while the subject is blocked, or when the subject already had
  ``limit`` takeovers in the trailing day; otherwise :func:`record_takeover` writes the
  :class:`CredentialTakeover` row next to the credential that ends with reason
  ``reissued_to_other_account``, so both commit or neither does.
- Only the previous holder may dispute a takeover ("not me"). The dispute revokes (reason
  ``disputed``) every active credential of the subject held by another account and blocks
  light enrolment of the subject (``RegistryRecord.light_enrolment_blocked_at``). It does not
  give the disputer their old credential back: whoever disputes may be the intruder who
  enrolled first, so a dispute freezes the person's light credential instead of moving it.
- The block is lifted only by the authority (``flask registry clear-dispute``) or by an upgraded
  enrolment at a terminal (:mod:`bot.terminals.issue` calls :func:`lift_light_enrolment_block`).
  A dispute is idempotent.
- A light enrolment never supersedes an active upgraded credential, from any account
  (``upgraded_credential_held``); only a terminal replaces it.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from bot.credentials.service import revoke_credential
from bot.errors import Forbidden, NotFound, RateLimited
from bot.identity.errors import UpgradedCredentialHeld
from bot.identity.lost import refuse_if_lost
from bot.vocab import CredentialReason, CredentialStatus, Level
from storage.models.base import utcnow
from storage.models.credential import Credential
from storage.models.credential_takeover import CredentialTakeover
from storage.models.registry_record import RegistryRecord

WINDOW = dt.timedelta(days=1)


class EnrolmentBlocked(Forbidden):
    """Light enrolment of this person is blocked after a dispute."""

    code = "enrolment_blocked"


class ReissueLimited(RateLimited):
    """This person's credential was already re-issued to another account today."""

    code = "reissue_limited"


class TakeoverNotFound(NotFound):
    """No takeover of one of your credentials has this id."""

    code = "takeover_not_found"


@dataclass(frozen=True)
class Takeover:
    """What the previous holder is told, and what their "not me" refers to."""

    takeover_id: str
    previous_openid: str
    device_model: str | None
    occurred_at: dt.datetime
    disputed_at: dt.datetime | None = None


@dataclass(frozen=True)
class DisputeResult:
    """The dispute as recorded: when, and how many credentials it revoked this time."""

    takeover_id: str
    disputed_at: dt.datetime
    revoked: int


def admit_light_issue(
    session: Session, subject_id: int, openid: str, max_per_day: int, now: dt.datetime
) -> Credential | None:
    """Raise if a light credential may not be issued now; return the credential it takes over.

    An active upgraded credential of the person, or of this account, is never superseded by a
    light one: :class:`UpgradedCredentialHeld` (409) tells the citizen to visit a terminal.

    Call it in the issuing transaction, right before issuing.
    """
    record = session.get(RegistryRecord, subject_id)
    refuse_if_lost(record)
    if record is not None and record.light_enrolment_blocked_at is not None:
        raise EnrolmentBlocked(
            "Light enrolment of this person is blocked after a dispute. The authority can lift "
            "the block, or enrol at a terminal."
        )
    upgraded = session.scalar(
        select(Credential.id).where(
            or_(Credential.subject_id == subject_id, Credential.openid == openid),
            Credential.status == CredentialStatus.ACTIVE,
            Credential.level == Level.UPGRADED,
        )
    )
    if upgraded is not None:
        raise UpgradedCredentialHeld()
    held = session.scalars(
        select(Credential).where(
            Credential.subject_id == subject_id,
            Credential.status == CredentialStatus.ACTIVE,
            Credential.openid != openid,
        )
    ).one_or_none()
    if held is None:
        return None
    recent = session.scalars(
        select(CredentialTakeover.occurred_at)
        .where(
            CredentialTakeover.subject_id == subject_id,
            CredentialTakeover.occurred_at > now - WINDOW,
        )
        .order_by(CredentialTakeover.occurred_at)
    ).all()
    if len(recent) >= max_per_day:
        resets_at = recent[len(recent) - max_per_day] + WINDOW
        retry_after = max(1, math.ceil((resets_at - now).total_seconds()))
        raise ReissueLimited(
            f"This person's credential can move to another account {max_per_day} time(s) a "
            f"day; try again from {resets_at.isoformat(timespec='seconds')}.",
            details={"limit": max_per_day, "resets_at": resets_at.isoformat()},
            headers={"Retry-After": str(retry_after)},
        )
    return held


def record_takeover(
    session: Session,
    previous: Credential,
    new_credential_id: str,
    device_model: str | None,
    now: dt.datetime,
) -> Takeover:
    """Write the takeover row in the issuing transaction."""
    row = CredentialTakeover(
        id="tk_" + secrets.token_urlsafe(16),
        subject_id=previous.subject_id,
        previous_credential_id=previous.id,
        previous_openid=previous.openid,
        credential_id=new_credential_id,
        device_model=(device_model or None) and device_model[:64],
        occurred_at=now,
    )
    session.add(row)
    session.flush()
    return Takeover(row.id, row.previous_openid, row.device_model, now)


def takeovers_of(session: Session, previous_openid: str, limit: int = 20) -> list[Takeover]:
    """The takeovers of credentials ``previous_openid`` held, newest first."""
    rows = session.scalars(
        select(CredentialTakeover)
        .where(CredentialTakeover.previous_openid == previous_openid)
        .order_by(CredentialTakeover.occurred_at.desc())
        .limit(limit)
    )
    return [
        Takeover(row.id, row.previous_openid, row.device_model, row.occurred_at, row.disputed_at)
        for row in rows
    ]


def dispute_takeover(
    session: Session, takeover_id: str, openid: str, now: dt.datetime | None = None
) -> DisputeResult:
    """ "Not me" from the previous holder: revoke the other accounts' credential, block light
    enrolment of the subject. Raises :class:`TakeoverNotFound` for anyone else's takeover.
    """
    now = now or utcnow()
    row = session.get(CredentialTakeover, takeover_id, with_for_update=True)
    if row is None or not secrets.compare_digest(row.previous_openid, openid):
        raise TakeoverNotFound()
    if row.disputed_at is not None:
        return DisputeResult(row.id, row.disputed_at, 0)
    row.disputed_at = now
    held_by_others = session.scalars(
        select(Credential.id).where(
            Credential.subject_id == row.subject_id,
            Credential.status == CredentialStatus.ACTIVE,
            Credential.openid != openid,
        )
    ).all()
    revoked = sum(
        revoke_credential(session, cid, CredentialReason.DISPUTED) for cid in held_by_others
    )
    session.execute(
        update(RegistryRecord)
        .where(RegistryRecord.id == row.subject_id)
        .values(
            light_enrolment_blocked_at=func.coalesce(RegistryRecord.light_enrolment_blocked_at, now)
        )
    )
    return DisputeResult(row.id, now, revoked)


def lift_light_enrolment_block(session: Session, subject_id: int) -> bool:
    """Lift the block after a dispute; True when the subject was blocked.

    Callers: ``flask registry clear-dispute`` (the authority), and the future upgraded enrolment
    at a terminal once it has verified the person in front of it.
    """
    result = session.execute(
        update(RegistryRecord)
        .where(
            RegistryRecord.id == subject_id, RegistryRecord.light_enrolment_blocked_at.is_not(None)
        )
        .values(light_enrolment_blocked_at=None)
    )
    return bool(getattr(result, "rowcount", 0))
