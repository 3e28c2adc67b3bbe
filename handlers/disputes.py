"""``/api/v1/me/takeovers`` and ``/api/v1/me/disputes``: "my credential moved to another
account", and "that was not me".

Invariant: a citizen sees and disputes only takeovers of credentials their own openid held;
anyone else's takeover id answers 404 ``takeover_not_found``, whether it exists or not.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database
from bot.identity.takeover import dispute_takeover, takeovers_of
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import BODY_ERRORS, CITIZEN_ERRORS, Out, Timestamp

disputes = APIBlueprint("disputes", __name__, tag="Takeovers", url_prefix="/api/v1/me")


class DisputeIn(BaseModel):
    """The takeover the citizen did not do (the id from the message's link)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    takeover_id: str = Field(min_length=8, max_length=40, pattern=r"^tk_[A-Za-z0-9_-]+$")


class TakeoverOut(Out):
    """One re-issue of the citizen's credential to another account."""

    takeover_id: str
    occurred_at: Timestamp
    device_model: str | None = Field(description="as the other account's phone reported it")
    disputed_at: Timestamp | None


class TakeoversOut(Out):
    """Newest first, at most 20."""

    takeovers: list[TakeoverOut]


class DisputeOut(Out):
    """The dispute as recorded."""

    takeover_id: str
    disputed_at: Timestamp
    revoked: int = Field(description="credentials revoked by this call (0 when repeated)")
    light_enrolment_blocked: bool


@disputes.get("/takeovers")
@disputes.auth_required(citizen_auth)
@disputes.output(TakeoversOut)
@disputes.doc(
    summary="When my credential was re-issued to another account",
    description="Newest first: when, on which device model, and whether I disputed it.",
    responses=CITIZEN_ERRORS,
)
def list_takeovers() -> dict[str, Any]:
    """The signed-in citizen's takeovers (at most the latest 20)."""
    principal = current_citizen()
    with database().transaction() as session:
        rows = takeovers_of(session, principal.openid)
    return {
        "takeovers": [
            {
                "takeover_id": row.takeover_id,
                "occurred_at": row.occurred_at.isoformat(),
                "device_model": row.device_model,
                "disputed_at": row.disputed_at.isoformat() if row.disputed_at else None,
            }
            for row in rows
        ]
    }


@disputes.post("/disputes")
@disputes.auth_required(citizen_auth)
@disputes.input(DisputeIn)
@disputes.output(DisputeOut, status_code=201)
@disputes.doc(
    summary='"Not me": undo a re-issue of my credential to another account',
    description=(
        "Revokes the other account's credential at once and blocks light enrolment of this "
        "person until the authority lifts the block (or an upgraded enrolment at a terminal). "
        "It does not restore the previous credential. Repeating it changes nothing."
    ),
    responses={
        **BODY_ERRORS,
        **CITIZEN_ERRORS,
        404: "takeover_not_found: no takeover of one of your credentials has this id",
    },
)
def dispute(json_data: DisputeIn) -> tuple[dict[str, Any], int]:
    """Record the signed-in citizen's dispute of one takeover of their credential."""
    principal = current_citizen()
    with database().transaction() as session:
        result = dispute_takeover(session, json_data.takeover_id, principal.openid)
    return {
        "takeover_id": result.takeover_id,
        "disputed_at": result.disputed_at.isoformat(),
        "revoked": result.revoked,
        "light_enrolment_blocked": True,
    }, 201
