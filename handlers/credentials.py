"""The citizen's credential, its presentation tokens, and the public JWKS.

Invariants: presentations are minted only for the bound device of an authenticated session
whose login proved the device's key (``bot.devices.keys``), inside its unlock window when the
biometric unlock is on (``bot.devices.presentations``); responses never contain the ID number
or the credential id.
"""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from flask import Response, jsonify

from bot.credentials.keys import ensure_signing_key, public_jwks
from bot.devices.erasure import delete_credential
from bot.devices.presentations import present_credential
from bot.extensions import clock, database, settings, store
from bot.identity.credential_view import credential_view
from handlers.auth import citizen_auth, current_citizen, proven_citizen
from handlers.schemas import (
    CITIZEN_ERRORS,
    PRESENTATION_ERRORS,
    CredentialReasonField,
    CredentialStatusField,
    LevelField,
    Out,
    Timestamp,
)

credentials = APIBlueprint("credentials", __name__, tag="Credentials")


class CredentialOut(Out):
    """The citizen's credential: the active one, else the latest (``reason`` says why it ended)."""

    level: LevelField
    status: CredentialStatusField
    reason: CredentialReasonField | None
    valid: bool
    issued_at: Timestamp
    expires_at: Timestamp
    masked_name: str


class PresentationOut(Out):
    """A single-use presentation token (the QR payload) and when it expires."""

    token: str
    expires_at: Timestamp


class Jwk(Out):
    """One public ES256 key (RFC 7517)."""

    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str
    y: str
    kid: str
    use: Literal["sig"]
    alg: Literal["ES256"]


class JwksOut(Out):
    """Every key that still verifies, newest first."""

    keys: list[Jwk]


@credentials.get("/api/v1/credentials/current")
@credentials.auth_required(citizen_auth)
@credentials.output(CredentialOut)
@credentials.doc(
    summary="The citizen's credential",
    responses={**CITIZEN_ERRORS, 404: "no_credential: never enrolled"},
)
def current() -> dict[str, Any]:
    """Level, status, validity and masked name of the citizen's credential."""
    principal = current_citizen()
    with database().transaction() as session:
        view = credential_view(session, settings(), principal.openid)
    return {
        "level": view.level,
        "status": view.status,
        "reason": view.reason,
        "valid": view.valid,
        "issued_at": view.issued_at.isoformat(),
        "expires_at": view.expires_at.isoformat(),
        "masked_name": view.masked_name,
    }


class DeletedOut(Out):
    """Whether an active credential ended now (False: there was none; nothing changed)."""

    ended: bool


@credentials.delete("/api/v1/credentials/current")
@credentials.auth_required(citizen_auth)
@credentials.output(DeletedOut)
@credentials.doc(
    summary="Delete my credential: it ends (deleted_by_holder), its card leaves the card pack, "
    "its tokens stop verifying (idempotent)",
    responses=CITIZEN_ERRORS,
)
def delete_current() -> dict[str, Any]:
    """End the citizen's active credential; the account stays."""
    principal = current_citizen()
    with database().transaction() as session:
        ended = delete_credential(session, principal.openid)
    return {"ended": ended}


@credentials.post("/api/v1/credentials/current/presentations")
@credentials.auth_required(citizen_auth)
@credentials.output(PresentationOut, status_code=201)
@credentials.doc(
    summary="A fresh presentation token for the pass QR (bound device only)",
    responses=PRESENTATION_ERRORS,
)
def presentation() -> tuple[dict[str, Any], int]:
    """``{token, expires_at}``; 403 ``device_not_bound`` from any other device, 403
    ``device_not_proven`` for a session whose login did not prove the device's key, 403
    ``unlock_required`` when the citizen's biometric unlock is on and not fresh (the token then
    carries ``amr`` with the method)."""
    principal = proven_citizen()
    with database().transaction() as session:
        minted = present_credential(
            session,
            store(),
            settings(),
            clock(),
            citizen_id=principal.citizen_id,
            openid=principal.openid,
            device_id=principal.device_id,
        )
    return {"token": minted.token, "expires_at": minted.expires_at.isoformat()}, 201


@credentials.get("/.well-known/jwks.json")
@credentials.output(JwksOut)
@credentials.doc(summary="Public keys that verify presentation tokens (RFC 7517)")
def jwks() -> Response:
    """Every key that still verifies (never none: the first is made here if need be)."""
    with database().transaction() as session:
        ensure_signing_key(session, settings())
        body = public_jwks(session)
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
