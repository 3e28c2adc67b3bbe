"""The citizen's side of a terminal visit, and the password factor of the upgraded credential.

- ``POST /api/v1/terminal-claims``: claim a scanned terminal QR with this device-bound session;
- ``PUT /api/v1/terminal-claims/{session_id}/password``: set the 8-digit password;
- ``POST /api/v1/credentials/current/password-presentations``: a token with ``amr: ["pwd"]``;
- ``POST /api/v1/credentials/current/password-reset``: void the upgraded credential.

Invariant: the password is read from the body, handed to :mod:`bot.terminals` and dropped; it is
never logged, stored (only its argon2id hash) or echoed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bot.credentials.errors import NoActiveCredential
from bot.devices.unlock import presentation_amr
from bot.extensions import clock, database, settings, store
from bot.identity.credential_view import credential_view
from bot.terminals.factors import password_presentation, reset_password
from bot.terminals.passwords import hash_password, require_strong, spelled_date_digests
from bot.terminals.sessions import claim_session, set_session_password
from bot.vocab import CredentialReason, CredentialStatus
from handlers.auth import citizen_auth, current_citizen, proven_citizen
from handlers.schemas import (
    BODY_ERRORS,
    CITIZEN_ERRORS,
    CredentialReasonField,
    CredentialStatusField,
    Out,
    TerminalSessionStatusField,
    Timestamp,
)
from storage.models.credential import Credential
from storage.models.registry_record import RegistryRecord

terminal_claims = APIBlueprint(
    "terminal_claims", __name__, tag="Terminal visits", url_prefix="/api/v1"
)


class ClaimIn(BaseModel):
    """The payload of the terminal's QR, as scanned."""

    model_config = ConfigDict(strict=True, extra="forbid")

    qr_payload: str = Field(min_length=8, max_length=200)


class PasswordIn(BaseModel):
    """An 8-digit password."""

    model_config = ConfigDict(strict=True, extra="forbid")

    password: str = Field(pattern=r"^[0-9]{8}$", description="8 ASCII digits")


class ClaimOut(Out):
    """The claimed session: where to set the password, and until when."""

    session_id: str
    status: TerminalSessionStatusField
    expires_at: Timestamp


class PresentationOut(Out):
    """A single-use presentation token carrying ``amr: ["pwd"]``."""

    token: str
    expires_at: Timestamp


class ResetOut(Out):
    """The upgraded credential is void; a new one needs a terminal visit."""

    status: CredentialStatusField
    reason: CredentialReasonField


def _birth_date(openid: str) -> dt.date | None:
    """The birth date of the person behind the citizen's latest credential, if any."""
    with database().transaction() as session:
        return session.scalar(
            select(RegistryRecord.birth_date)
            .join(Credential, Credential.subject_id == RegistryRecord.id)
            .where(Credential.openid == openid)
            .order_by(Credential.issued_at.desc())
            .limit(1)
        )


def _masked_name(openid: str) -> str | None:
    try:
        with database().transaction() as session:
            return credential_view(session, settings(), openid).masked_name
    except NoActiveCredential:
        return None


@terminal_claims.post("/terminal-claims")
@terminal_claims.auth_required(citizen_auth)
@terminal_claims.input(ClaimIn, arg_name="body")
@terminal_claims.output(ClaimOut)
@terminal_claims.doc(
    summary="Claim a terminal session from its QR (this phone gets the upgraded credential)",
    responses={
        **BODY_ERRORS,
        **CITIZEN_ERRORS,
        404: "terminal_session_not_found: unknown, expired or forged QR",
        409: "terminal_session_claimed: someone claimed it first",
    },
)
def claim(body: ClaimIn) -> dict[str, Any]:
    """Claim the session once; the terminal then sees this citizen's masked name (if known)."""
    principal = current_citizen()
    claimed = claim_session(
        store(),
        body.qr_payload,
        citizen_id=principal.citizen_id,
        openid=principal.openid,
        device_id=principal.device_id,
        claimed_name=_masked_name(principal.openid),
        now=clock()(),
    )
    return {
        "session_id": claimed.session_id,
        "status": claimed.status,
        "expires_at": dt.datetime.fromtimestamp(claimed.expires_at, dt.UTC).isoformat(),
    }


@terminal_claims.put("/terminal-claims/<session_id>/password")
@terminal_claims.auth_required(citizen_auth)
@terminal_claims.input(PasswordIn, arg_name="body")
@terminal_claims.output(ClaimOut)
@terminal_claims.doc(
    summary="Set the 8-digit password of the upgraded credential to be issued",
    responses={
        **BODY_ERRORS,
        **CITIZEN_ERRORS,
        404: "terminal_session_not_found: not a session this citizen claimed",
        409: "terminal_session_not_ready: the card is being read or the session was used",
        422: "password_weak: not 8 digits, one digit repeated, a run, or the birth date",
    },
)
def set_password(session_id: str, body: PasswordIn) -> dict[str, Any]:
    """Check the rules, hash with argon2id, keep the hash with the session."""
    principal = current_citizen()
    require_strong(body.password, _birth_date(principal.openid))
    ready = set_session_password(
        store(),
        session_id,
        principal.citizen_id,
        hash_password(body.password),
        clock()(),
        spelled_date_digests(settings(), body.password),
    )
    return {
        "session_id": ready.session_id,
        "status": ready.status,
        "expires_at": dt.datetime.fromtimestamp(ready.expires_at, dt.UTC).isoformat(),
    }


@terminal_claims.post("/credentials/current/password-presentations")
@terminal_claims.auth_required(citizen_auth)
@terminal_claims.input(PasswordIn, arg_name="body")
@terminal_claims.output(PresentationOut, status_code=201)
@terminal_claims.doc(
    summary="A presentation token proving the password (amr pwd), for strict merchants",
    responses={
        **BODY_ERRORS,
        **CITIZEN_ERRORS,
        403: "password_invalid, device_not_bound, or unlock_required (biometric unlock on)",
        404: "no_upgraded_credential: no active upgraded credential",
        429: "password_locked: five wrong passwords; locked for longer each time (Retry-After)",
    },
)
def password_token(body: PasswordIn) -> tuple[dict[str, Any], int]:
    """Check the password (with the lockout) and mint a token carrying ``amr: ["pwd"]``."""
    principal = proven_citizen()
    with database().transaction() as session:  # the biometric unlock comes before the password
        unlocked_amr = presentation_amr(
            session,
            store(),
            clock(),
            citizen_id=principal.citizen_id,
            device_id=principal.device_id,
        )
    minted = password_presentation(
        database(),
        store(),
        settings(),
        clock(),
        openid=principal.openid,
        device_id=principal.device_id,
        password=body.password,
        other_amr=unlocked_amr,
    )
    return {"token": minted.token, "expires_at": minted.expires_at.isoformat()}, 201


@terminal_claims.post("/credentials/current/password-reset")
@terminal_claims.auth_required(citizen_auth)
@terminal_claims.output(ResetOut)
@terminal_claims.doc(
    summary="Forget the password: voids the upgraded credential (a new terminal visit is needed)",
    responses={
        **CITIZEN_ERRORS,
        403: "device_not_bound",
        404: "no_upgraded_credential",
    },
)
def password_reset() -> dict[str, Any]:
    """Revoke the upgraded credential (reason ``password_reset``) and delete its password."""
    principal = current_citizen()
    reset_password(database(), principal.openid, principal.device_id)
    return {"status": CredentialStatus.REVOKED, "reason": CredentialReason.PASSWORD_RESET}
