"""Light enrolment with WeChat 人脸核身 (``WANGZHENG_ENROL_LIVENESS=wechat``).

``POST /api/v1/enrollments/wechat-face`` checks the claim and returns the ``verify_id`` for
``wx.requestFacialVerify``; ``POST /api/v1/enrollments/wechat-face/confirm`` asks WeChat for the
result and issues the light credential. Both answer ``enrolment_mode_unavailable`` (409) on a
deployment in engine mode. Invariant: the ID number and name are handed to the service and
never logged or stored here.
"""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database, settings, store
from bot.identity.delegated import (
    DelegatedClaim,
    confirm_delegated_enrolment,
    face_verifier,
    require_mode,
    start_delegated_enrolment,
)
from bot.vocab import CredentialStatus
from bot.wechat.app import wechat_config, wechat_oa_api
from bot.wechat.cards import card_for_or_none, card_openid
from handlers.auth import citizen_auth, current_citizen
from handlers.card_pack import CardOut, render_card
from handlers.schemas import (
    BODY_ERRORS,
    CITIZEN_ERRORS,
    WECHAT_ERRORS,
    CredentialStatusField,
    LevelField,
    Out,
    Timestamp,
)

wechat_face = APIBlueprint(
    "wechat_face", __name__, tag="Enrolment with WeChat face verification", url_prefix="/api/v1"
)


class WeChatFaceStart(BaseModel):
    """The claimed identity."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=15, max_length=18)


class WeChatFaceConfirm(BaseModel):
    """The session the citizen just completed with ``wx.requestFacialVerify``."""

    model_config = ConfigDict(extra="forbid")

    verify_id: str = Field(min_length=1, max_length=256)


class WeChatFaceStartOut(Out):
    """The session to hand to ``wx.requestFacialVerify``, and how long we keep it (seconds)."""

    verify_id: str
    expires_in: int = Field(ge=1)


class WeChatFaceEnrolmentOut(Out):
    """The light credential just issued after WeChat's face verification."""

    level: LevelField
    status: CredentialStatusField
    liveness: Literal["wechat"] = Field(description="WeChat 人脸核身 proved the live face")
    issued_at: Timestamp
    expires_at: Timestamp
    card: CardOut | None = Field(
        description="for wx.addCard; null when the card pack is off or WeChat is unreachable "
        "right now (POST /api/v1/credentials/current/card fetches it later)"
    )


MODE_ERROR = {409: "enrolment_mode_unavailable: this deployment enrols with engine liveness"}
START_ERRORS = {
    **BODY_ERRORS,
    400: "validation_error or id_number_invalid",
    **CITIZEN_ERRORS,
    404: "no_record: the registry has no record of this ID number",
    **MODE_ERROR,
    422: "name_mismatch",
    **WECHAT_ERRORS,
    429: "too_many_attempts, or wechat_rate_limited (Retry-After)",
}
CONFIRM_ERRORS = {
    **BODY_ERRORS,
    400: "validation_error or verify_id_invalid (unknown, expired, used, or not yours)",
    **CITIZEN_ERRORS,
    403: "enrolment_blocked: light enrolment of this person is blocked after a dispute",
    409: "enrolment_mode_unavailable, id_card_expired, enrolment_in_progress, or "
    "upgraded_credential_held",
    422: "face_verification_failed (details.reason: identity_mismatch, face_mismatch, "
    "not_completed or failed; details.result: WeChat's verify_ret)",
    **WECHAT_ERRORS,
    429: "too_many_attempts, reissue_limited (details.resets_at), or wechat_rate_limited "
    "(Retry-After)",
}


@wechat_face.post("/enrollments/wechat-face")
@wechat_face.auth_required(citizen_auth)
@wechat_face.input(WeChatFaceStart)
@wechat_face.output(WeChatFaceStartOut, status_code=201)
@wechat_face.doc(
    summary="Start a light enrolment with WeChat face verification",
    description=(
        "Checks the name and ID number against the registry (with the attempt limits), then "
        "returns the verify_id to pass to wx.requestFacialVerify, bound to this account and "
        "device. Failure codes: enrolment_mode_unavailable, no_record, name_mismatch, "
        "too_many_attempts, id_number_invalid, wechat_unavailable (503, Retry-After)."
    ),
    responses=START_ERRORS,
)
def start(json_data: WeChatFaceStart) -> tuple[dict[str, Any], int]:
    """Open a WeChat face verification session for the claimed identity."""
    require_mode(settings(), "wechat")
    principal = current_citizen()
    started = start_delegated_enrolment(
        database(),
        store(),
        settings(),
        face_verifier(),
        DelegatedClaim(
            citizen_id=principal.citizen_id,
            openid=principal.openid,
            device_id=principal.device_id,
            name=json_data.name,
            id_number=json_data.id_number,
        ),
    )
    return {"verify_id": started.verify_id, "expires_in": started.expires_in}, 201


@wechat_face.post("/enrollments/wechat-face/confirm")
@wechat_face.auth_required(citizen_auth)
@wechat_face.input(WeChatFaceConfirm)
@wechat_face.output(WeChatFaceEnrolmentOut, status_code=201)
@wechat_face.doc(
    summary="Confirm a WeChat face verification and issue the light credential",
    description=(
        "Asks WeChat (queryverifyinfo) for the result of the session; verify_ret 10000 issues "
        "the light credential. A verify_id is used once, by the account and device that "
        "started it. Failure codes: enrolment_mode_unavailable, verify_id_invalid, "
        "face_verification_failed (details.reason: identity_mismatch, face_mismatch, "
        "not_completed, failed), too_many_attempts, enrolment_in_progress, enrolment_blocked, "
        "reissue_limited, wechat_unavailable (503, Retry-After). Like the engine mode, enrolling "
        "a person whose credential another account holds is a takeover (docs/takeover.md)."
    ),
    responses=CONFIRM_ERRORS,
)
def confirm(json_data: WeChatFaceConfirm) -> tuple[dict[str, Any], int]:
    """Issue the light credential when WeChat reports a successful face verification."""
    require_mode(settings(), "wechat")
    principal = current_citizen()
    issued = confirm_delegated_enrolment(
        database(),
        store(),
        settings(),
        face_verifier(),
        citizen_id=principal.citizen_id,
        openid=principal.openid,
        device_id=principal.device_id,
        verify_id=json_data.verify_id,
        card_pack=wechat_config().card_enabled,
    )
    return {
        "level": issued.level,
        "status": CredentialStatus.ACTIVE,
        "liveness": "wechat",
        "issued_at": issued.issued_at.isoformat(),
        "expires_at": issued.expires_at.isoformat(),
        "card": render_card(
            card_for_or_none(
                wechat_oa_api(), card_openid(wechat_config(), principal.openid), issued.card_code
            )
        ),
    }, 201
