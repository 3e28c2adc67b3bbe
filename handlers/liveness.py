"""``POST /api/v1/liveness/challenges``: issue a head-turn challenge for the liveness check."""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import Field

from bot.extensions import clock, settings, store
from bot.face.challenges import CHALLENGE_TTL_S, Requester, new_challenge
from bot.identity.delegated import require_mode
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import CITIZEN_ERRORS, Out

liveness = APIBlueprint("liveness", __name__, tag="Liveness", url_prefix="/api/v1/liveness")


class ChallengeOut(Out):
    """The head turns to perform, one frame each after a straight one, before ``expires_at``."""

    challenge_id: str
    steps: list[Literal["left", "right"]]
    frames: int = Field(ge=2)
    expires_in: int
    expires_at: int = Field(description="Unix time")


@liveness.post("/challenges")
@liveness.auth_required(citizen_auth)
@liveness.output(ChallengeOut, status_code=201, description="challenge issued")
@liveness.doc(
    summary="Issue a liveness challenge",
    description=(
        "Returns a random sequence of head turns. Send one frame looking straight at the camera, "
        "then one frame per step, within 60 s; the challenge can be answered once, and only "
        "by the same account on the same device."
    ),
    responses={
        **CITIZEN_ERRORS,
        409: "enrolment_mode_unavailable: the deployment enrols with WeChat face verification",
    },
)
def issue_challenge() -> tuple[dict[str, Any], int]:
    """Create a challenge bound to this signed-in citizen and device, in the short-lived store."""
    principal = current_citizen()
    require_mode(settings(), "engine")
    challenge = new_challenge(
        store(),
        steps=settings().face_liveness_steps,
        requester=Requester(principal.citizen_id, principal.device_id),
        clock=clock(),
    )
    return {
        "challenge_id": challenge.id,
        "steps": list(challenge.steps),
        "frames": len(challenge.steps) + 1,
        "expires_in": CHALLENGE_TTL_S,
        "expires_at": int(challenge.expires_at),
    }, 201
