"""Strict verification: ``required_level: upgraded``, ``required_factors: ["password"]`` (a token
carrying ``amr: ["pwd"]``), the password lockout over HTTP, and the reset that voids the pass."""

from __future__ import annotations

from typing import Any

import pytest

from bot.extensions import clock, database
from bot.terminals.passwords import MAX_FAILURES, hash_password
from storage.models.credential_password import CredentialPassword
from tests.handlers.verify_helpers import (
    Citizen,
    enrolled,
    fetch_token,
    merchant_key,
    sign_with_our_key,
    split,
    verify,
)

PASSWORD = "27364159"


@pytest.fixture
def upgraded(app: Any, login: Any) -> Citizen:
    """A citizen holding an upgraded credential with a password (as a terminal leaves it)."""
    citizen = enrolled(app, login, level="upgraded")
    with database(app).transaction() as session:
        session.add(
            CredentialPassword(
                credential_id=citizen.credential_id, password_hash=hash_password(PASSWORD)
            )
        )
    return citizen


def _password_token(client: Any, citizen: Citizen, password: str = PASSWORD) -> Any:
    return client.post(
        "/api/v1/credentials/current/password-presentations",
        json={"password": password},
        headers={"Authorization": f"Bearer {citizen.access_token}"},
    )


def test_a_plain_token_lacks_the_password_factor(app: Any, client: Any, upgraded: Citizen) -> None:
    key = merchant_key(app, category="government", scopes=["result"])
    token = fetch_token(client, upgraded.access_token)
    assert "amr" not in split(token)[1]
    status, body = verify(client, key, token, required_factors=["password"])
    assert (status, body) == (200, {"result": "invalid", "reason": "factor_missing"})


def test_a_password_token_passes_the_strictest_check(
    app: Any, client: Any, upgraded: Citizen
) -> None:
    key = merchant_key(app, category="government", scopes=["result", "full_identity"])
    minted = _password_token(client, upgraded)
    assert minted.status_code == 201
    token = minted.get_json()["token"]
    assert split(token)[1]["amr"] == ["pwd"]
    status, body = verify(
        client,
        key,
        token,
        required_level="upgraded",
        required_factors=["password"],
        scope="full_identity",
    )
    assert status == 200 and body["result"] == "valid" and body["level"] == "upgraded"
    assert body["claims"]["name"] == "张三明"


def test_required_level_upgraded_refuses_a_light_credential(
    app: Any, client: Any, login: Any
) -> None:
    light = enrolled(app, login)
    key = merchant_key(app)
    _status, body = verify(
        client, key, fetch_token(client, light.access_token), required_level="upgraded"
    )
    assert body == {"result": "invalid", "reason": "level_too_low"}
    # A light credential has no password, so no password token either.
    refused = _password_token(client, light)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (
        404,
        "no_upgraded_credential",
    )


def test_unknown_factors_and_forged_amr_are_refused(
    app: Any, client: Any, upgraded: Citizen
) -> None:
    key = merchant_key(app)
    token = fetch_token(client, upgraded.access_token)
    bad = client.post(
        "/api/v1/verify",
        json={"token": token, "required_factors": ["fingerprint"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert bad.status_code == 400
    claims = split(token)[1]
    forged = sign_with_our_key(app, {**claims, "jti": "forged-1", "amr": "pwd"})
    assert verify(client, key, forged)[1] == {"result": "invalid", "reason": "malformed"}


def test_five_wrong_passwords_lock_and_the_answer_never_says_which_digit(
    app: Any, client: Any, upgraded: Citizen
) -> None:
    clock(app).set(1_900_000_000)
    for n in range(MAX_FAILURES):
        wrong = _password_token(client, upgraded, f"2736415{n}" if n != 9 else "00000001")
        assert wrong.status_code == 403
        assert wrong.get_json()["error"] == {
            "code": "password_invalid",
            "message": "The password is not correct.",
        }
    locked = _password_token(client, upgraded)
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "password_locked"
    assert locked.headers["Retry-After"] == "60"
    clock(app).advance(60)
    assert _password_token(client, upgraded).status_code == 201


def test_resetting_the_password_voids_the_upgraded_credential(
    app: Any, client: Any, upgraded: Citizen
) -> None:
    key = merchant_key(app)
    earlier = fetch_token(client, upgraded.access_token)
    reset = client.post(
        "/api/v1/credentials/current/password-reset",
        headers={"Authorization": f"Bearer {upgraded.access_token}"},
    )
    assert reset.status_code == 200
    assert reset.get_json() == {"status": "revoked", "reason": "password_reset"}
    assert verify(client, key, earlier)[1] == {"result": "invalid", "reason": "revoked"}
    assert _password_token(client, upgraded).status_code == 404
    with database(app).transaction() as session:
        assert session.get(CredentialPassword, upgraded.credential_id) is None
    current = client.get(
        "/api/v1/credentials/current", headers={"Authorization": f"Bearer {upgraded.access_token}"}
    ).get_json()
    assert (current["status"], current["reason"], current["valid"]) == (
        "revoked",
        "password_reset",
        False,
    )


def test_another_device_cannot_spend_password_attempts(
    app: Any, client: Any, login: Any, upgraded: Citizen
) -> None:
    other = login("o-test-citizen", "device-2")  # the same account, now on a new phone
    refused = client.post(
        "/api/v1/credentials/current/password-presentations",
        json={"password": PASSWORD},
        headers={"Authorization": f"Bearer {other.access_token}"},
    )
    assert refused.status_code in (403, 404)


def test_the_password_never_reaches_the_logs(
    app: Any, client: Any, upgraded: Citizen, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    assert _password_token(client, upgraded).status_code == 201
    assert _password_token(client, upgraded, "99999990").status_code == 403
    assert PASSWORD not in caplog.text and "99999990" not in caplog.text
