"""``/api/v1/mp/login`` and ``/api/v1/mp/refresh``: mini-program sign-in and token rotation.

Invariants: the body is validated by strict pydantic models (unknown fields, wrong types and
missing fields are 400 ``validation_error`` before anything is written); WeChat's login code,
session key and our tokens are never logged; a login on a new device revokes the old one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import request
from pydantic import BaseModel, ConfigDict, Field

from bot.devices.errors import TokenReplayed
from bot.devices.keys import NONCE_TTL_S, DeviceProof, new_login_nonce
from bot.devices.sessions import SessionTokens, refresh_session
from bot.extensions import clock, database, settings, store
from bot.ratelimit import take_slot
from bot.wechat.app import wechat_api
from bot.wechat.miniprogram import login
from handlers.schemas import BODY_ERRORS, WECHAT_ERRORS, Out

miniprogram = APIBlueprint("miniprogram", __name__, url_prefix="/api/v1/mp", tag="Mini-program")


class DeviceIn(BaseModel):
    """The phone the mini-program runs on (from ``wx.getDeviceInfo``/``getSystemInfo``)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    device_id: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    model: str | None = Field(default=None, max_length=64)
    brand: str | None = Field(default=None, max_length=64)
    platform: str | None = Field(default=None, max_length=32)
    system: str | None = Field(default=None, max_length=64)
    app_version: str | None = Field(default=None, max_length=32)


class DeviceKeyIn(BaseModel):
    """The device's proof: its signature of ``wangzheng-device-login\n<nonce>\n<device_id>``
    (ECDSA P-256, SHA-256; raw ``r||s`` as WebCrypto gives it, or DER), base64; and, at the
    device's first login, its public key (SubjectPublicKeyInfo, base64)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    nonce: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    signature: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9+/=_-]+$")
    public_key: str | None = Field(
        default=None, min_length=16, max_length=400, pattern=r"^[A-Za-z0-9+/=_-]+$"
    )


class LoginIn(BaseModel):
    """``wx.login``'s code, the device, and the device's proof of its key."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: str = Field(min_length=1, max_length=128)
    device: DeviceIn
    device_key: DeviceKeyIn


class NonceOut(Out):
    """A single-use nonce for the next login's device signature."""

    nonce: str
    expires_in: int


class RefreshIn(BaseModel):
    """The current refresh token."""

    model_config = ConfigDict(strict=True, extra="forbid")

    refresh_token: str = Field(min_length=16, max_length=256)


class TokensOut(Out):
    """Our access token (15 minutes) and rotating refresh token, bound to the device."""

    token_type: Literal["Bearer"]
    access_token: str
    access_expires_in: int
    refresh_token: str
    refresh_expires_in: int
    device_changed: bool


def _render(tokens: SessionTokens) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "token_type": "Bearer",
        "access_token": tokens.access_token,
        "access_expires_in": int((tokens.access_expires_at - now).total_seconds()),
        "refresh_token": tokens.refresh_token,
        "refresh_expires_in": int((tokens.refresh_expires_at - now).total_seconds()),
        "device_changed": tokens.previous_device_id is not None,
    }


@miniprogram.post("/login/nonce")
@miniprogram.output(NonceOut, status_code=201)
@miniprogram.doc(
    summary="A single-use nonce for the device to sign at login (120 s)",
    responses={429: "rate_limited: too many nonces from this address (Retry-After)"},
)
def mp_login_nonce() -> tuple[dict[str, Any], int]:
    """A fresh nonce; the login that uses it signs it with the device's key. Limited per client
    address, since anyone may call it."""
    limits = settings()
    take_slot(
        store(),
        limits.hash_key,
        "login-nonce",
        request.remote_addr or "-",
        limit=limits.login_nonce_per_client_per_min,
        window_s=60,
        now=clock()(),
    )
    return {"nonce": new_login_nonce(store(), clock()), "expires_in": NONCE_TTL_S}, 201


@miniprogram.post("/login")
@miniprogram.input(LoginIn)
@miniprogram.output(TokensOut)
@miniprogram.doc(
    summary="Sign in with wx.login's code",
    responses={
        **BODY_ERRORS,
        400: BODY_ERRORS[400] + "; device_key_invalid: not a base64 P-256 public key, or none "
        "at the device's first login",
        401: "invalid_code: the wx.login code is invalid or was already used; "
        "login_nonce_invalid; device_proof_invalid: the device's key did not sign (a copied "
        "device_id), or another key was offered for a known device",
        409: "sign_in_conflict: another first sign-in of this account or device was written at "
        "the same moment; retry",
        **WECHAT_ERRORS,
    },
)
def mp_login(json_data: LoginIn) -> dict[str, Any]:
    """Exchange the code with WeChat, check the device's proof, and open a session bound to
    ``device.device_id``."""
    proof = json_data.device_key
    tokens = login(
        database(),
        store(),
        wechat_api(),
        code=json_data.code,
        device_id=json_data.device.device_id,
        proof=DeviceProof(proof.nonce, proof.signature, proof.public_key),
        device_model=json_data.device.model,
        clock=clock(),
    )
    return _render(tokens)


@miniprogram.post("/refresh")
@miniprogram.input(RefreshIn)
@miniprogram.output(TokensOut)
@miniprogram.doc(
    summary="Rotate the tokens",
    responses={**BODY_ERRORS, 401: "session_invalid or token_replayed (the family is revoked)"},
)
def mp_refresh(json_data: RefreshIn) -> dict[str, Any]:
    """Rotate both tokens; a reused refresh token revokes the whole session family."""
    replayed: TokenReplayed | None = None
    with database().transaction() as session:
        try:
            tokens = refresh_session(session, json_data.refresh_token)
        except TokenReplayed as exc:
            replayed = exc  # caught inside, so the family revocation commits
    if replayed is not None:
        raise replayed
    return _render(tokens)
