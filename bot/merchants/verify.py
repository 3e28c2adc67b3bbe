"""Verifying a presentation token for a merchant.

Invariants:
- Checks run in this order, and the first failure is the reason: scope granted -> signature
  (ES256 allow-list, known kid) -> times -> single use of ``jti`` -> handle -> credential status
  and device binding -> credential expiry -> level -> factors (``required_factors``: the token's
  ``amr``: ``pwd`` for password, ``fpt`` or ``face`` for biometric) -> the counter face (only
  when the caller passes one, see :mod:`bot.merchants.counter`). The scope check comes first so
  a misconfigured merchant never burns a citizen's token. Factors cost nothing (they are claims
  of the token); a merchant that asks for neither factors nor a face pays no extra query.
- Single use: the audit row of the first use carries the token's mark under a unique constraint
  (``bot.merchants.audit``), so the mark and the audit commit in one transaction. A replay is
  detected at that insert (or, pipelined on PostgreSQL, at its commit, see
  :mod:`bot.merchants.verify_commit`) and wins over any other reason, as if checked first.
- An invalid result carries only ``result`` and ``reason``: no level, no pseudonym, no claims.
- ``full_identity`` needs the merchant's grant, a registration category and an upgraded credential.
- Every call writes one audit row in the same transaction (never the token); a valid one also
  records :class:`~bot.events.MerchantVerified` (the citizen's message, if they opted in). The
  caller commits; if the commit fails, the token is not burned and nothing was disclosed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import PresentationRejected
from bot.credentials.tokens import (
    BIOMETRIC_AMRS,
    PASSWORD_AMR,
    decode_presentation,
    resolve_handle,
)
from bot.crypto import keyed_hash, same
from bot.events import MerchantVerified, record
from bot.identity.masking import mask_name
from bot.identity.registry import record_id_number, record_name
from bot.merchants.accounts import MerchantPrincipal
from bot.merchants.audit import AuditEntry, PendingReplay, jti_digest, record_audit
from bot.merchants.errors import MerchantRateLimited
from bot.vocab import (
    REGISTRATION_CATEGORIES,
    CredentialReason,
    CredentialStatus,
    Factor,
    Level,
    Scope,
    VerifyReason,
    VerifyResult,
)
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow
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


def check_rate_limit(settings: Settings, calls_in_window: int, now: float) -> None:
    """Fixed one-minute window per merchant key (counted at authentication, on the app clock);
    raise 429 with Retry-After (the seconds left in the window) past the limit.
    """
    if calls_in_window > settings.merchant_rate_limit_per_min:
        retry = str(60 - int(now) % 60)
        raise MerchantRateLimited(headers={"Retry-After": retry})


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


def _entry(
    merchant: MerchantPrincipal,
    scope: Scope,
    ip_hash: str,
    outcome: VerificationResult,
    credential_id: str | None,
) -> AuditEntry:
    return AuditEntry(
        merchant_id=merchant.id,
        credential_id=credential_id,
        result=outcome.result,
        reason=outcome.reason,
        scope=scope,
        # A counter face check is recorded as what it disclosed: that the face matched.
        disclosed=",".join([*outcome.claims, *(["face_match"] if outcome.face_matched else [])]),
        level=outcome.level,
        client_ip_hash=ip_hash,
    )


@dataclass(frozen=True)
class _Judgement:
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


def _judge(
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
) -> _Judgement:
    """Credential status, binding, expiry and level of the credential behind the handle."""
    if handle is None:
        return _Judgement(VerificationResult(VerifyResult.INVALID, VerifyReason.EXPIRED))
    credential_id, handle_device = handle
    rows = _CREDENTIAL_QUERY.rows(session, {"credential_id": credential_id})
    if not rows:
        invalid = VerificationResult(VerifyResult.INVALID, VerifyReason.REVOKED)
        return _Judgement(invalid, credential_id)
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
        return _Judgement(VerificationResult(VerifyResult.INVALID, reason), found.credential_id)
    outcome = VerificationResult(
        VerifyResult.VALID,
        level=Level(found.level),
        subject_pseudonym=pseudonym(merchant.pseudonym_salt, found.subject_key or found.id_hash),
        claims=_claims(settings, found, scope, now),
        face_matched=face is not None,
    )
    return _Judgement(outcome, found.credential_id, found.citizen_id, bool(found.notify))


def verify_presentation(
    session: Session,
    store: EphemeralStore,
    settings: Settings,
    merchant: MerchantPrincipal,
    token: str,
    *,
    required_level: Level = Level.LIGHT,
    scope: Scope = Scope.RESULT,
    client_ip: str = "",
    now: dt.datetime | None = None,
    required_factors: tuple[Factor, ...] = (),
    face: FaceCheck | None = None,
    prefetched: Mapping[str, str | None] | None = None,
    replay: PendingReplay | None = None,
) -> VerificationResult:
    """Check ``token`` for ``merchant`` and record the attempt; see the module invariants.

    ``face`` (the counter check) judges the credential's registry subject after every other
    check passed: None when the live face matches, else the reason. ``prefetched``: store values
    already read for this request (the presentation handle, read in the merchant
    authentication's round trip); anything missing is read from ``store``. ``replay``: filled
    with the replay's audit entry once the marked row is written (for a deferred insert).
    """
    now = now or utcnow()
    ip_hash = keyed_hash(settings.hash_key, client_ip or "-", "client_ip")

    def invalid(reason: VerifyReason, credential_id: str | None = None) -> VerificationResult:
        outcome = VerificationResult(VerifyResult.INVALID, reason)
        record_audit(
            session, settings.audit_key, _entry(merchant, scope, ip_hash, outcome, credential_id)
        )
        return outcome

    if scope not in merchant.scopes or (
        scope == Scope.FULL_IDENTITY and merchant.category not in REGISTRATION_CATEGORIES
    ):
        return invalid(VerifyReason.SCOPE_NOT_GRANTED)
    try:
        claims = decode_presentation(session, settings, token, now)
    except PresentationRejected as rejected:
        return invalid(rejected.reason)
    handle = resolve_handle(store, claims.cid, prefetched)
    missing_factor = (Factor.PASSWORD in required_factors and PASSWORD_AMR not in claims.amr) or (
        Factor.BIOMETRIC in required_factors and not set(BIOMETRIC_AMRS) & set(claims.amr)
    )
    judged = _judge(
        session,
        settings,
        merchant,
        handle,
        required_level=required_level,
        scope=scope,
        now=now,
        missing_factor=missing_factor,
        face=face,
    )
    entry = _entry(merchant, scope, ip_hash, judged.outcome, judged.credential_id)
    handle_credential = handle[0] if handle else None
    if not record_audit(session, settings.audit_key, entry, mark=jti_digest(claims)):
        return invalid(VerifyReason.REPLAYED, handle_credential)
    if replay is not None:
        replayed = VerificationResult(VerifyResult.INVALID, VerifyReason.REPLAYED)
        replay.entry = _entry(merchant, scope, ip_hash, replayed, handle_credential)
    if judged.citizen_id is not None and judged.credential_id is not None:  # valid only
        # The WeChat adapter tells the citizen after commit, if they opted in.
        record(
            session,
            MerchantVerified(
                judged.citizen_id, judged.credential_id, merchant.name, judged.citizen_opted_in
            ),
        )
    return judged.outcome
