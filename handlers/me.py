"""``/api/v1/me``: the citizen's own switches (a message on each verification, "unlock with
fingerprint"), reporting their ID card lost, and erasing their account."""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.devices.erasure import erase_account
from bot.devices.preferences import KEEP, Preferences, get_preferences, set_preferences
from bot.devices.unlock import recent_unlock
from bot.extensions import clock, database, settings, store
from bot.identity.lost import report_lost_by_holder
from bot.ratelimit import take_slot
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import BODY_ERRORS, CITIZEN_ERRORS, Out

me = APIBlueprint("me", __name__, tag="Citizen", url_prefix="/api/v1/me")


UnlockWith = Literal["off", "fingerprint", "face"]
UNLOCK_DOC = (
    '"unlock with fingerprint" (WeChat SOTER): fingerprint or face makes presentation tokens '
    "need a verified unlock shortly before (POST /api/v1/me/unlock); off does not"
)


class PreferencesIn(BaseModel):
    """The client sends the whole set; ``unlock_with`` may be left out to keep it as it is."""

    model_config = ConfigDict(strict=True, extra="forbid")

    notify_on_verification: bool
    unlock_with: UnlockWith | None = Field(default=None, description=UNLOCK_DOC)


class PreferencesOut(Out):
    """The citizen's switches."""

    notify_on_verification: bool
    unlock_with: UnlockWith = Field(description=UNLOCK_DOC)


def _rendered(preferences: Preferences) -> dict[str, Any]:
    return {
        "notify_on_verification": preferences.notify_on_verification,
        "unlock_with": preferences.unlock_method or "off",
    }


@me.get("/preferences")
@me.auth_required(citizen_auth)
@me.output(PreferencesOut)
@me.doc(summary="My preferences", responses=CITIZEN_ERRORS)
def read_preferences() -> dict[str, Any]:
    """The signed-in citizen's preferences."""
    principal = current_citizen()
    with database().transaction() as session:
        preferences = get_preferences(session, principal.citizen_id)
    return _rendered(preferences)


@me.put("/preferences")
@me.auth_required(citizen_auth)
@me.input(PreferencesIn)
@me.output(PreferencesOut)
@me.doc(
    summary="Change my preferences",
    description="Switching the unlock off, or to another biometric, needs a verified unlock "
    "with the current one first (403 unlock_required otherwise).",
    responses={
        **BODY_ERRORS,
        **CITIZEN_ERRORS,
        403: "unlock_required: unlock with the current biometric before switching it off",
    },
)
def write_preferences(json_data: PreferencesIn) -> dict[str, Any]:
    """Replace the signed-in citizen's preferences."""
    principal = current_citizen()
    wanted = json_data.unlock_with
    unlocked = recent_unlock(
        store(), clock(), citizen_id=principal.citizen_id, device_id=principal.device_id
    )
    with database().transaction() as session:
        preferences = set_preferences(
            session,
            principal.citizen_id,
            notify_on_verification=json_data.notify_on_verification,
            unlock_method=KEEP if wanted is None else (None if wanted == "off" else wanted),
            unlocked_with=unlocked.method if unlocked else None,
        )
    return _rendered(preferences)


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
