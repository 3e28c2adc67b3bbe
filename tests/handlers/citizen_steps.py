"""A citizen's steps over HTTP, shared by the history and SOTER unlock tests: sign in with a
device key, enrol a light credential, read the history, and the biometric unlock's challenge,
signature (the emulator plays the phone's TEE), unlock and switch."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.extensions import database
from bot.identity.enrolment import issue_light_credential
from bot.wechat.emulator.server import Emulator
from storage.models.citizen import Citizen
from tests.kit.device import TestDevice

LOGIN = "/api/v1/mp/login"
HISTORY = "/api/v1/me/history"
PREFS = "/api/v1/me/preferences"
# The openid the ``login`` fixture signs in as.
OPENID = "o-test-citizen"


def auth(access_token: str) -> dict[str, str]:
    """The citizen's bearer header."""
    return {"Authorization": f"Bearer {access_token}"}


def sign_in(client: Any, code: str, phone: TestDevice) -> str:
    """Sign in with ``phone``'s key proof; the access token."""
    response = client.post(LOGIN, json=phone.login_body(client, code))
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["access_token"])


def enrol_light(app: Any, openid: str, device_id: str, subject: int) -> str:
    """Issue a light credential to ``openid`` on ``device_id`` (no card pack); its id."""
    with database(app).transaction() as session:
        citizen_id = session.scalars(select(Citizen.id).where(Citizen.openid == openid)).one()
    issued = issue_light_credential(
        database(app), citizen_id=citizen_id, openid=openid, device_id=device_id,
        subject_id=subject, card_pack=False,
    )  # fmt: skip
    return issued.credential_id


def history_page(client: Any, token: str, **query: Any) -> Any:
    """One page of ``GET /api/v1/me/history`` (asserted 200)."""
    response = client.get(HISTORY, headers=auth(token), query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def unlock_challenge(client: Any, access_token: str) -> str:
    """A fresh single-use unlock challenge."""
    response = client.post("/api/v1/me/unlock/challenge", headers=auth(access_token))
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["challenge"])


def soter_signed(
    emulator: Emulator, challenge: str, openid: str = OPENID, mode: str = "fingerPrint"
) -> dict[str, str]:
    """What wx.startSoterAuthentication hands the mini-program, as the request body."""
    result = emulator.soter.authenticate(openid, challenge, mode)
    return {
        "resultJSON": result.result_json,
        "resultJSONSignature": result.result_json_signature,
        "authMode": result.auth_mode,
    }


def post_unlock(client: Any, access_token: str, body: dict[str, Any]) -> Any:
    """``POST /api/v1/me/unlock`` with ``body``; the response."""
    return client.post("/api/v1/me/unlock", json=body, headers=auth(access_token))


def switch_unlock(client: Any, access_token: str, unlock_with: str) -> Any:
    """Set the unlock preference (messages off); the response."""
    body = {"notify_on_verification": False, "unlock_with": unlock_with}
    return client.put(PREFS, json=body, headers=auth(access_token))
