"""``/api/v1/me``: the citizen's own switches (e.g. a message on each verification), reporting
their ID card lost, and erasing their account."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict

from bot.devices.erasure import erase_account
from bot.devices.preferences import get_preferences, set_preferences
from bot.extensions import clock, database, settings, store
from bot.identity.lost import report_lost_by_holder
from bot.ratelimit import take_slot
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


class LostOut(Out):
    """What the report did: whether the card was newly flagged, and how many credentials ended."""

    newly_reported: bool
    revoked: int


@me.post("/report-lost")
@me.auth_required(citizen_auth)
@me.output(LostOut)
@me.doc(
    summary="Report my ID card lost: every credential of mine ends, enrolment waits for the "
    "authority (idempotent)",
    responses={
        **CITIZEN_ERRORS,
        404: "no_credential: no credential, so no card known here",
        429: "rate_limited: too many reports today (Retry-After)",
    },
)
def report_lost() -> dict[str, Any]:
    """Flag the card behind the citizen's credential lost and revoke its credentials."""
    principal = current_citizen()
    limits = settings()
    take_slot(
        store(),
        limits.hash_key,
        "report-lost",
        principal.openid,
        limit=limits.report_lost_per_citizen_per_day,
        window_s=86_400,
        now=clock()(),
    )
    with database().transaction() as session:
        report = report_lost_by_holder(session, principal.openid)
    return {"newly_reported": report.newly_reported, "revoked": report.revoked}


class ErasureOut(Out):
    """What the erasure removed (docs/privacy.md lists what is kept, and why)."""

    erased: bool
    credentials_ended: int
    sessions: int
    device_keys: int


@me.delete("")
@me.auth_required(citizen_auth)
@me.output(ErasureOut)
@me.doc(
    summary="Erase my account: credential ended, sessions, device keys, preferences and "
    "password deleted (PIPL); a repeat is 401, the tokens being gone",
    responses=CITIZEN_ERRORS,
)
def erase_me() -> dict[str, Any]:
    """Erase the signed-in citizen's account in one transaction."""
    principal = current_citizen()
    with database().transaction() as session:
        erased = erase_account(session, principal.citizen_id)
    return {
        "erased": True,
        "credentials_ended": erased.credentials_ended,
        "sessions": erased.sessions,
        "device_keys": erased.device_keys,
    }
