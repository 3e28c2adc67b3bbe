"""``/api/v1/me/preferences``: the citizen's own switches (e.g. a message on each verification)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict

from bot.devices.preferences import get_preferences, set_preferences
from bot.extensions import database
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import BODY_ERRORS, CITIZEN_ERRORS, Out

me = APIBlueprint("me", __name__, tag="Citizen", url_prefix="/api/v1/me")


class PreferencesIn(BaseModel):
    """Every field is required: the client sends the whole set."""

    model_config = ConfigDict(strict=True, extra="forbid")

    notify_on_verification: bool


class PreferencesOut(Out):
    """The citizen's switches."""

    notify_on_verification: bool


@me.get("/preferences")
@me.auth_required(citizen_auth)
@me.output(PreferencesOut)
@me.doc(summary="My preferences", responses=CITIZEN_ERRORS)
def read_preferences() -> dict[str, Any]:
    """The signed-in citizen's preferences."""
    principal = current_citizen()
    with database().transaction() as session:
        preferences = get_preferences(session, principal.citizen_id)
    return {"notify_on_verification": preferences.notify_on_verification}


@me.put("/preferences")
@me.auth_required(citizen_auth)
@me.input(PreferencesIn)
@me.output(PreferencesOut)
@me.doc(summary="Change my preferences", responses={**BODY_ERRORS, **CITIZEN_ERRORS})
def write_preferences(json_data: PreferencesIn) -> dict[str, Any]:
    """Replace the signed-in citizen's preferences."""
    principal = current_citizen()
    with database().transaction() as session:
        preferences = set_preferences(
            session,
            principal.citizen_id,
            notify_on_verification=json_data.notify_on_verification,
        )
    return {"notify_on_verification": preferences.notify_on_verification}
