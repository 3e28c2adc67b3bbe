"""``/api/v1/mp/login`` and ``/api/v1/mp/refresh``: mini-program sign-in and token rotation.

Invariants: the body is validated by strict pydantic models (unknown fields, wrong types and
missing fields are 400 ``validation_error`` before anything is written); WeChat's login code,
session key and our tokens are never logged; a login on a new device revokes the old one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.devices.errors import TokenReplayed
from bot.devices.sessions import SessionTokens, refresh_session
from bot.extensions import database
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


class LoginIn(BaseModel):
    """``wx.login``'s code and the device."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: str = Field(min_length=1, max_length=128)
    device: DeviceIn


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


@miniprogram.post("/login")
@miniprogram.input(LoginIn)
@miniprogram.output(TokensOut)
@miniprogram.doc(
    summary="Sign in with wx.login's code",
    responses={
        **BODY_ERRORS,
        401: "invalid_code: the wx.login code is invalid or was already used",
        **WECHAT_ERRORS,
    },
)
def mp_login(json_data: LoginIn) -> dict[str, Any]:
    """Exchange the code with WeChat and open a session bound to ``device.device_id``."""
    tokens = login(
        database(),
        wechat_api(),
        code=json_data.code,
        device_id=json_data.device.device_id,
        device_model=json_data.device.model,
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
