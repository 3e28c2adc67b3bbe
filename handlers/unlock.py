"""``/api/v1/me/unlock``: fingerprint or face unlock before the pass shows (WeChat SOTER).

``POST /api/v1/me/unlock/challenge`` gives the challenge for ``wx.startSoterAuthentication``;
``POST /api/v1/me/unlock`` takes its ``resultJSON``, ``resultJSONSignature`` and ``authMode``,
has WeChat verify the signature, and opens the unlock window of this device
(:mod:`bot.devices.unlock`). Invariant: the challenge, resultJSON and signature go to the
service only; nothing here logs or stores them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.devices.soter import (
    MAX_RESULT_JSON_CHARS,
    MAX_SIGNATURE_CHARS,
    METHOD_AMR,
    SoterResult,
    soter_verifier,
)
from bot.devices.unlock import new_unlock_challenge, verify_unlock
from bot.extensions import clock, database, settings, store
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import BODY_ERRORS, CITIZEN_ERRORS, WECHAT_ERRORS, Out, Timestamp

unlock = APIBlueprint(
    "unlock", __name__, tag="Fingerprint unlock (WeChat SOTER)", url_prefix="/api/v1/me"
)


class ChallengeOut(Out):
    """The challenge to pass to ``wx.startSoterAuthentication`` (single use), and its lifetime."""

    challenge: str
    expires_in: int = Field(ge=1)


class UnlockIn(BaseModel):
    """What ``wx.startSoterAuthentication`` returned, as it returned it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    resultJSON: str = Field(min_length=1, max_length=MAX_RESULT_JSON_CHARS)
    resultJSONSignature: str = Field(min_length=1, max_length=MAX_SIGNATURE_CHARS)
    authMode: Literal["fingerPrint", "facial"] = "fingerPrint"


class UnlockOut(Out):
    """The verified unlock: its method, the ``amr`` tokens will carry, and the window's end."""

    method: Literal["fingerprint", "face"]
    amr: str
    unlocked_until: Timestamp


UNLOCK_ERRORS = {
    **BODY_ERRORS,
    400: "validation_error, soter_result_invalid (resultJSON is not SOTER's JSON or has no raw "
    "challenge), unlock_challenge_unknown (not issued to this session), or "
    "unlock_challenge_expired",
    **CITIZEN_ERRORS,
    403: "soter_signature_invalid (WeChat did not accept the signature for this account), or "
    "unlock_method_mismatch (another biometric than the one chosen)",
    409: "unlock_challenge_used (replayed)",
    **WECHAT_ERRORS,
}


@unlock.post("/unlock/challenge")
@unlock.auth_required(citizen_auth)
@unlock.output(ChallengeOut, status_code=201)
@unlock.doc(
    summary="A single-use challenge for wx.startSoterAuthentication",
    responses=CITIZEN_ERRORS,
)
def challenge() -> tuple[dict[str, Any], int]:
    """Bound to this session and device; valid ``WANGZHENG_UNLOCK_CHALLENGE_TTL_S`` seconds."""
    principal = current_citizen()
    issued = new_unlock_challenge(
        store(),
        settings(),
        clock(),
        citizen_id=principal.citizen_id,
        session_id=principal.session_id,
        device_id=principal.device_id,
    )
    return {"challenge": issued.challenge, "expires_in": issued.expires_in}, 201


@unlock.post("/unlock")
@unlock.auth_required(citizen_auth)
@unlock.input(UnlockIn)
@unlock.output(UnlockOut)
@unlock.doc(
    summary="Unlock with fingerprint or face (WeChat SOTER)",
    description=(
        "WeChat's soter/verify_signature checks resultJSONSignature for this account; resultJSON "
        "must carry (as raw) a challenge from POST /api/v1/me/unlock/challenge of this session, "
        "unused and fresh. Presentation tokens may then be minted for "
        "WANGZHENG_UNLOCK_WINDOW_S seconds on this device, carrying amr fpt or face."
    ),
    responses=UNLOCK_ERRORS,
)
def unlock_now(json_data: UnlockIn) -> dict[str, Any]:
    """Verify the SOTER result and open this device's unlock window."""
    principal = current_citizen()
    unlocked = verify_unlock(
        database(),
        store(),
        settings(),
        soter_verifier(),
        clock(),
        citizen_id=principal.citizen_id,
        openid=principal.openid,
        session_id=principal.session_id,
        device_id=principal.device_id,
        result=SoterResult(json_data.resultJSON, json_data.resultJSONSignature, json_data.authMode),
    )
    return {
        "method": unlocked.method,
        "amr": METHOD_AMR[unlocked.method],
        "unlocked_until": dt.datetime.fromtimestamp(unlocked.until, dt.UTC).isoformat(),
    }
