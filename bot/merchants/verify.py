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
  The credential behind the handle is judged by :mod:`bot.merchants.judgement`.
- ``full_identity`` needs the merchant's grant, a registration category and an upgraded credential.
- Every call writes one audit row in the same transaction (never the token); a valid one also
  records :class:`~bot.events.MerchantVerified` (the citizen's message, if they opted in). The
  caller commits; if the commit fails, the token is not burned and nothing was disclosed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import PresentationRejected
from bot.credentials.tokens import (
    BIOMETRIC_AMRS,
    PASSWORD_AMR,
    decode_presentation,
    resolve_handle,
)
from bot.crypto import keyed_hash
from bot.events import MerchantVerified, record
from bot.merchants.accounts import MerchantPrincipal
from bot.merchants.audit import AuditEntry, PendingReplay, jti_digest, record_audit
from bot.merchants.errors import MerchantRateLimited
from bot.merchants.judgement import FaceCheck, VerificationResult, judge
from bot.vocab import (
    REGISTRATION_CATEGORIES,
    Factor,
    Level,
    Scope,
    VerifyReason,
    VerifyResult,
)
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow

__all__ = ["check_rate_limit", "verify_presentation"]


def check_rate_limit(settings: Settings, calls_in_window: int, now: float) -> None:
    """Fixed one-minute window per merchant key (counted at authentication, on the app clock);
    raise 429 with Retry-After (the seconds left in the window) past the limit.
    """
    if calls_in_window > settings.merchant_rate_limit_per_min:
        retry = str(60 - int(now) % 60)
        raise MerchantRateLimited(headers={"Retry-After": retry})


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
    judged = judge(
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
