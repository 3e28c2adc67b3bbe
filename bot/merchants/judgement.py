"""Judging the credential behind a well-signed, timely presentation token.

Invariants:
- One read per verify: the credential, its registry subject and its holder's current phone in
  one query of columns (:data:`_CREDENTIAL_QUERY`, run prepared on PostgreSQL's pipelined path:
  ``storage.prepared``), never the sealed reference photo nor anything else verify has no use
  for.
- The checks run in this order, and the first failure is the reason: credential status and
  device binding (the handle's and the holder's current phone, compared in constant time) ->
  credential expiry -> level -> factors -> the counter face (only when the caller passes one).
- An invalid result carries only ``result`` and ``reason``: no level, no pseudonym, no claims.
  A valid one discloses exactly the fields its scope names (:func:`_claims`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import same
from bot.identity.masking import mask_name
from bot.identity.registry import record_id_number, record_name
from bot.merchants.accounts import MerchantPrincipal
from bot.vocab import CredentialReason, CredentialStatus, Level, Scope, VerifyReason, VerifyResult
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.registry_record import RegistryRecord
from storage.prepared import Prepared


@dataclass(frozen=True)
class VerificationResult:
    """The answer to one verification; everything but ``result``/``reason`` empty when invalid."""

    result: VerifyResult
    reason: VerifyReason | None = None
    level: Level | None = None
    subject_pseudonym: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    face_matched: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The API body."""
        if self.result != VerifyResult.VALID:
            return {"result": self.result, "reason": self.reason}
        body = {
            "result": self.result,
            "level": self.level,
            "subject_pseudonym": self.subject_pseudonym,
            "claims": self.claims,
        }
        if self.face_matched:
            body["face"] = "match"
        return body


def pseudonym(salt: bytes, subject_key: str) -> str:
    """The merchant-specific pseudonym of a registry subject (128-bit hex)."""
    return hmac.new(salt, subject_key.encode(), hashlib.sha256).hexdigest()[:32]


def _age(birth: dt.date, day: dt.date) -> int:
    years = day.year - birth.year
    return years - 1 if (day.month, day.day) < (birth.month, birth.day) else years


def _claims(settings: Settings, found: _Found, scope: Scope, now: dt.datetime) -> dict[str, Any]:
    """The fields the scope discloses, and nothing else."""
    if scope == Scope.AGE_OVER_18:
        return {"age_over_18": _age(found.birth_date, now.date()) >= 18}
    if scope == Scope.NAME_MASKED:
        return {"name_masked": mask_name(record_name(settings, found))}
    if scope == Scope.FULL_IDENTITY:
        return {
            "name": record_name(settings, found),
            "id_number": record_id_number(settings, found),
        }
    return {}


def _credential_reason(found: _Found, handle_device: str, now: dt.datetime) -> VerifyReason | None:
    """Why the credential behind a good token cannot be accepted, or None."""
    if found.status == CredentialStatus.SUPERSEDED:
        return VerifyReason.SUPERSEDED
    if found.status != CredentialStatus.ACTIVE:
        if found.reason == CredentialReason.DEVICE_CHANGED:
            return VerifyReason.SUPERSEDED
        return VerifyReason.REVOKED
    if not same(handle_device, found.device_id):
        return VerifyReason.SUPERSEDED
    if found.current_device is not None and not same(found.current_device, found.device_id):
        return VerifyReason.SUPERSEDED
    if found.expires_at <= now:
        return VerifyReason.EXPIRED
    return None


@dataclass(frozen=True)
class Judgement:
    """The outcome for a well-signed, timely token, before its single use is recorded."""

    outcome: VerificationResult
    credential_id: str | None = None
    citizen_id: int | None = None
    citizen_opted_in: bool = False


FaceCheck = Callable[[Session, int], VerifyReason | None]


class _Found(NamedTuple):
    """The columns verify reads for a credential: its own, its registry subject's (never the
    sealed photo, about 200 KB, nor anything else verify has no use for) and its holder's."""

    credential_id: str
    status: str
    reason: str | None
    device_id: str
    expires_at: dt.datetime
    level: str
    record_id: int
    subject_key: str | None
    id_hash: str
    birth_date: dt.date
    name_sealed: bytes
    id_number_sealed: bytes
    current_device: str | None
    citizen_id: int | None
    notify: bool | None


# Built once, run prepared on the pipelined path (storage.prepared): columns, no ORM loading.
_CREDENTIAL_QUERY = Prepared(
    select(
        Credential.id,
        Credential.status,
        Credential.reason,
        Credential.device_id,
        Credential.expires_at,
        Credential.level,
        RegistryRecord.id,
        RegistryRecord.subject_key,
        RegistryRecord.id_hash,
        RegistryRecord.birth_date,
        RegistryRecord.name_sealed,
        RegistryRecord.id_number_sealed,
        Citizen.current_device_id,
        Citizen.id,
        Citizen.notify_on_verification,
    )
    .join(RegistryRecord, RegistryRecord.id == Credential.subject_id)
    .outerjoin(Citizen, Citizen.openid == Credential.openid)
    .where(Credential.id == bindparam("credential_id"))
)


def judge(
    session: Session,
    settings: Settings,
    merchant: MerchantPrincipal,
    handle: tuple[str, str] | None,
    *,
    required_level: Level,
    scope: Scope,
    now: dt.datetime,
    missing_factor: bool = False,
    face: FaceCheck | None = None,
) -> Judgement:
    """Credential status, binding, expiry and level of the credential behind the handle."""
    if handle is None:
        return Judgement(VerificationResult(VerifyResult.INVALID, VerifyReason.EXPIRED))
    credential_id, handle_device = handle
    rows = _CREDENTIAL_QUERY.rows(session, {"credential_id": credential_id})
    if not rows:
        invalid = VerificationResult(VerifyResult.INVALID, VerifyReason.REVOKED)
        return Judgement(invalid, credential_id)
    found = _Found(*rows[0])
    reason = _credential_reason(found, handle_device, now)
    needs_upgraded = required_level == Level.UPGRADED or scope == Scope.FULL_IDENTITY
    if reason is None and needs_upgraded and found.level != Level.UPGRADED:
        reason = VerifyReason.LEVEL_TOO_LOW
    if reason is None and missing_factor:
        reason = VerifyReason.FACTOR_MISSING
    if reason is None and face is not None:
        reason = face(session, found.record_id)
    if reason is not None:
        return Judgement(VerificationResult(VerifyResult.INVALID, reason), found.credential_id)
    outcome = VerificationResult(
        VerifyResult.VALID,
        level=Level(found.level),
        subject_pseudonym=pseudonym(merchant.pseudonym_salt, found.subject_key or found.id_hash),
        claims=_claims(settings, found, scope, now),
        face_matched=face is not None,
    )
    return Judgement(outcome, found.credential_id, found.citizen_id, bool(found.notify))
