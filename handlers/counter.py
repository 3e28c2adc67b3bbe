"""``POST /api/v1/verify/face``: the counter check, a presentation token plus a live face.

Invariants:
- Merchant key first (401), then the per-key rate limit (429), then the ``face`` capability
  (403 ``capability_not_granted``, before the token is touched), then the photo is analysed
  outside any transaction, then one verify transaction as ``POST /api/v1/verify``.
- The counter photo is read into memory and dropped: never stored, never logged.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from apiflask.fields import UploadFile
from flask import request
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database, settings, store
from bot.face.errors import ImageTooLarge
from bot.face.service import get_engine
from bot.merchants.counter import analyse_counter_face, face_check, require_face_capability
from bot.merchants.verify_commit import verify_and_commit
from bot.vocab import Level, Scope
from handlers.auth import current_merchant, merchant_auth
from handlers.schemas import BODY_ERRORS, FactorField, LevelField, ScopeField
from handlers.verify import VerifyOut, rate_limited

counter = APIBlueprint("counter", __name__, tag="Counter check")


class CounterForm(BaseModel):
    """Multipart form: the token, what is asked of it, and the live photo from the counter."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    token: str = Field(min_length=1, max_length=1024)
    required_level: LevelField = Level.LIGHT
    scope: ScopeField = Scope.RESULT
    required_factors: FactorField | None = Field(
        default=None,
        description="password: the token must carry amr pwd; biometric: amr fpt or face "
        "(a WeChat SOTER unlock just before the token)",
    )
    photo: UploadFile


@counter.post("/api/v1/verify/face")
@counter.auth_required(merchant_auth)
@rate_limited
@counter.input(CounterForm, location="form_and_files")
@counter.output(VerifyOut, description="valid (with face: match), or invalid with its reason")
@counter.doc(
    summary="Counter check (刷證 + 刷臉): verify a token and match a live face to its holder",
    description="invalid reasons beyond POST /api/v1/verify: face_mismatch, or the live photo's "
    "quality code (face_not_found, face_multiple, face_too_small, face_pose, face_too_dark, "
    "face_overexposed, face_blurred, image_invalid).",
    responses={
        **BODY_ERRORS,
        401: "merchant_key_invalid: unknown, rotated or disabled key",
        403: "capability_not_granted: this merchant does not hold the face capability",
        413: "payload_too_large or image_too_large",
        429: "rate_limited: too many verifications with this key this minute (Retry-After)",
        503: "face_model_unavailable",
    },
)
def verify_with_face(form_and_files_data: CounterForm) -> dict[str, Any]:
    """``{result, reason?}`` or ``{result, level, subject_pseudonym, claims, face}``."""
    form = form_and_files_data
    merchant = current_merchant()
    with database().transaction() as session:
        require_face_capability(session, merchant.id)
    limit = settings().face_max_image_bytes
    photo = form.photo.stream.read(limit + 1)
    form.photo.close()
    if len(photo) > limit:
        raise ImageTooLarge()
    engine = get_engine(settings())
    judged_face = analyse_counter_face(engine, photo)
    del photo
    outcome = verify_and_commit(
        database(),
        store(),
        settings(),
        merchant,
        form.token,
        required_level=form.required_level,
        scope=form.scope,
        client_ip=request.remote_addr or "",
        required_factors=(form.required_factors,) if form.required_factors else (),
        face=face_check(settings(), engine, judged_face),
    )
    return outcome.to_dict()
