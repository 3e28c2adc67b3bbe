"""``POST /api/v1/enrollments/light``: selfie enrolment of the light credential.

Invariant: frames are read into memory, handed to the service and dropped; this handler never
writes or logs them, nor the ID number.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from apiflask.fields import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import clock, database, settings, store
from bot.face.errors import ImageTooLarge
from bot.face.service import get_engine
from bot.identity.delegated import require_mode
from bot.identity.enrolment import LightEnrolment, enroll_light
from bot.vocab import CredentialStatus
from bot.wechat.app import wechat_config, wechat_oa_api
from bot.wechat.cards import card_for_or_none, card_openid
from handlers.auth import citizen_auth, current_citizen
from handlers.card_pack import CardOut, render_card
from handlers.schemas import (
    BODY_ERRORS,
    CITIZEN_ERRORS,
    CredentialStatusField,
    LevelField,
    Out,
    Timestamp,
)

enrollments = APIBlueprint("enrollments", __name__, tag="Enrolment", url_prefix="/api/v1")
MAX_FRAMES = 3


class LightEnrolmentForm(BaseModel):
    """Multipart form: the claimed identity, the challenge answered, and 2-3 frames."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=15, max_length=18)
    challenge_id: str = Field(min_length=8, max_length=64)
    frames: list[UploadFile] = Field(min_length=2, max_length=MAX_FRAMES)


class EnrolmentOut(Out):
    """The light credential just issued, and how well the selfie matched the reference."""

    level: LevelField
    status: CredentialStatusField
    issued_at: Timestamp
    expires_at: Timestamp
    similarity: float
    threshold: float
    pack_id: str
    card: CardOut | None = Field(
        description="for wx.addCard; null when the card pack is off or WeChat is unreachable "
        "right now (POST /api/v1/credentials/current/card fetches it later)"
    )


ENROLMENT_ERRORS = {
    **BODY_ERRORS,
    400: "validation_error, image_invalid, liveness_challenge_invalid or id_number_invalid",
    **CITIZEN_ERRORS,
    404: "no_record: the registry has no record of this ID number",
    403: "enrolment_blocked: light enrolment of this person is blocked after a dispute",
    409: "id_card_expired, enrolment_mode_unavailable (the deployment enrols with WeChat), "
    "enrolment_in_progress (another enrolment of this person or from this account is being "
    "issued right now), or upgraded_credential_held (the person or this account holds an "
    "upgraded credential: only a trusted terminal replaces it)",
    413: "payload_too_large, image_too_large or image_too_many_pixels",
    422: (
        "name_mismatch, face_mismatch (with a hint), liveness_failed, "
        "presentation_attack_suspected (the pack's PAD model) or a face quality code"
    ),
    429: "too_many_attempts: too many failed enrolments today; reissue_limited: this person's "
    "credential already moved to another account today (details.resets_at, Retry-After)",
    503: "face_model_unavailable",
}


@enrollments.post("/enrollments/light")
@enrollments.auth_required(citizen_auth)
@enrollments.input(LightEnrolmentForm, location="form_and_files")
@enrollments.output(EnrolmentOut, status_code=201)
@enrollments.doc(
    summary="Enrol the light credential with a selfie liveness answer",
    description=(
        "Failure codes: no_record, name_mismatch, face_mismatch (with a hint), liveness_failed, "
        "presentation_attack_suspected, challenge_invalid, too_many_attempts, "
        "enrolment_mode_unavailable, enrolment_in_progress, enrolment_blocked, reissue_limited, "
        "id_number_invalid, and the face quality codes. Enrolling a person whose credential "
        "another account holds moves it here (reason reissued_to_other_account) and tells that "
        "account, which can dispute it."
    ),
    responses=ENROLMENT_ERRORS,
)
def enroll(form_and_files_data: LightEnrolmentForm) -> tuple[dict[str, Any], int]:
    """Issue a light credential bound to this session's openid and device."""
    require_mode(settings(), "engine")
    principal = current_citizen()
    limit = settings().face_max_image_bytes
    frames: list[bytes] = []
    for upload in form_and_files_data.frames:
        data = upload.stream.read(limit + 1)
        upload.close()
        if len(data) > limit:
            raise ImageTooLarge(details={"frame": len(frames)})
        frames.append(data)
    result = enroll_light(
        database(),
        store(),
        settings(),
        get_engine(settings()),
        LightEnrolment(
            citizen_id=principal.citizen_id,
            openid=principal.openid,
            device_id=principal.device_id,
            name=form_and_files_data.name,
            id_number=form_and_files_data.id_number,
            challenge_id=form_and_files_data.challenge_id,
            frames=frames,
        ),
        card_pack=wechat_config().card_enabled,
        clock=clock(),
    )
    issued = result.credential
    return {
        "level": issued.level,
        "status": CredentialStatus.ACTIVE,
        "issued_at": issued.issued_at.isoformat(),
        "expires_at": issued.expires_at.isoformat(),
        "similarity": round(result.match.similarity, 4),
        "threshold": result.match.threshold,
        "pack_id": result.match.pack_id,
        # For wx.addCard; null when the card pack is off or WeChat is unreachable right now
        # (POST /api/v1/credentials/current/card fetches it later).
        "card": render_card(
            card_for_or_none(
                wechat_oa_api(), card_openid(wechat_config(), principal.openid), issued.card_code
            )
        ),
    }, 201
