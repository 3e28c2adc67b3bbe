"""Fingerprint unlock before the pass shows (WeChat SOTER), end to end over HTTP.

The WeChat emulator holds an RSA-2048 SOTER key per openid: :meth:`SoterAuthority.authenticate`
plays the phone's TEE (signs ``resultJSON`` with the challenge in ``raw``), and our backend has
WeChat's ``soter/verify_signature`` (the emulator, over HTTP) check it for real. Time comes from
the app's clock; nothing sleeps, nothing of ours is mocked.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.events import UnlockPreferenceChanged, UnlockVerified
from bot.extensions import clock, database, event_bus, settings
from bot.terminals.passwords import hash_password
from bot.wechat.emulator.server import Emulator
from storage.models.credential_password import CredentialPassword
from tests.handlers.citizen_steps import (
    OPENID,
    PREFS,
    auth,
    post_unlock,
    soter_signed,
    switch_unlock,
    unlock_challenge,
)
from tests.handlers.verify_helpers import enrolled, merchant_key, split, verify

VERIFY_SIGNATURE = "/cgi-bin/soter/verify_signature"
PRESENT = "/api/v1/credentials/current/presentations"


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


@pytest.fixture
def citizen(wechat_app: Any, login: Any) -> Any:
    """An enrolled citizen on device-1 with the fingerprint unlock switched on."""
    enrolled_citizen = enrolled(wechat_app, login)
    switched = switch_unlock(wechat_app.test_client(), enrolled_citizen.access_token, "fingerprint")
    assert switched.status_code == 200 and switched.get_json()["unlock_with"] == "fingerprint"
    return enrolled_citizen


@pytest.fixture
def pinned(wechat_app: Any) -> Any:
    """The app's clock, pinned at now (tests move it; nothing sleeps)."""
    app_clock = clock(wechat_app)
    app_clock.set(time.time())
    return app_clock


def test_unlock_then_tokens_carry_amr_and_verify(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[Any] = []
    for kind in (UnlockPreferenceChanged, UnlockVerified):
        event_bus(wechat_app).subscribe(kind, lambda _session, event: seen.append(event))
    holder = enrolled(wechat_app, login)
    token = holder.access_token
    assert wechat_client.get(PREFS, headers=auth(token)).get_json()["unlock_with"] == "off"
    assert switch_unlock(wechat_client, token, "fingerprint").status_code == 200
    for path in (PRESENT, "/api/v1/credentials/current/qr"):
        refused = wechat_client.post(path, headers=auth(token))
        assert _code(refused) == (403, "unlock_required"), path
        assert refused.get_json()["error"]["details"] == {"method": "fingerprint"}

    challenge = unlock_challenge(wechat_client, token)
    body = soter_signed(emulator, challenge)
    assert json.loads(body["resultJSON"])["raw"] == challenge  # WeChat's field for it
    unlocked = post_unlock(wechat_client, token, body)
    assert unlocked.status_code == 200, unlocked.get_json()
    assert unlocked.get_json()["method"] == "fingerprint" and unlocked.get_json()["amr"] == "fpt"
    (call,) = emulator.calls_to(VERIFY_SIGNATURE)
    assert call.params["access_token"] and call.body == {
        "openid": OPENID,
        "json_string": body["resultJSON"],
        "json_signature": body["resultJSONSignature"],
    }

    minted = wechat_client.post(PRESENT, headers=auth(token))
    assert minted.status_code == 201, minted.get_json()
    presentation = minted.get_json()["token"]
    assert split(presentation)[1]["amr"] == ["fpt"]
    status, verdict = verify(wechat_client, merchant_key(wechat_app), presentation)
    assert status == 200 and verdict["result"] == "valid", verdict
    assert (
        wechat_client.post("/api/v1/credentials/current/qr", headers=auth(token)).status_code == 201
    )

    assert [type(event).__name__ for event in seen] == ["UnlockPreferenceChanged", "UnlockVerified"]
    assert seen[0] == UnlockPreferenceChanged(seen[0].citizen_id, True, "fingerprint", None)
    assert seen[1] == UnlockVerified(seen[0].citizen_id, "fingerprint", None)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert challenge not in logged and body["resultJSONSignature"][:40] not in logged


def test_preference_off_mints_as_before_without_amr(
    wechat_app: Any, wechat_client: Any, login: Any
) -> None:
    holder = enrolled(wechat_app, login)
    minted = wechat_client.post(PRESENT, headers=auth(holder.access_token))
    assert minted.status_code == 201
    assert "amr" not in split(minted.get_json()["token"])[1]


def test_a_bad_or_moved_signature_is_refused(
    wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    token = citizen.access_token
    # One bit of the signature flipped.
    body = soter_signed(emulator, unlock_challenge(wechat_client, token))
    raw = bytearray(base64.b64decode(body["resultJSONSignature"]))
    raw[10] ^= 0x01
    flipped = {**body, "resultJSONSignature": base64.b64encode(bytes(raw)).decode()}
    assert _code(post_unlock(wechat_client, token, flipped)) == (403, "soter_signature_invalid")
    # The signed JSON changed after signing (the TEE's counter rewound), signature kept.
    body = soter_signed(emulator, unlock_challenge(wechat_client, token))
    edited = json.loads(body["resultJSON"])
    edited["counter"] = 0
    moved = {**body, "resultJSON": json.dumps(edited, separators=(",", ":"))}
    assert _code(post_unlock(wechat_client, token, moved)) == (403, "soter_signature_invalid")
    # Signed by another WeChat user's SOTER key (their phone, our challenge).
    other = soter_signed(emulator, unlock_challenge(wechat_client, token), openid="o-mallory")
    assert _code(post_unlock(wechat_client, token, other)) == (403, "soter_signature_invalid")
    # Not base64 at all, and a resultJSON that is not SOTER's JSON.
    body = soter_signed(emulator, unlock_challenge(wechat_client, token))
    garbage = {**body, "resultJSONSignature": "not*base64"}
    assert _code(post_unlock(wechat_client, token, garbage)) == (403, "soter_signature_invalid")
    not_json = {**body, "resultJSON": "raw=" + unlock_challenge(wechat_client, token)}
    assert _code(post_unlock(wechat_client, token, not_json)) == (400, "soter_result_invalid")
    assert _code(wechat_client.post(PRESENT, headers=auth(token))) == (403, "unlock_required")
    assert len(emulator.calls_to(VERIFY_SIGNATURE)) == 4  # each one judged by WeChat


def test_a_reused_challenge_is_refused(
    wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    body = soter_signed(emulator, unlock_challenge(wechat_client, citizen.access_token))
    assert post_unlock(wechat_client, citizen.access_token, body).status_code == 200
    replay = post_unlock(wechat_client, citizen.access_token, body)
    assert _code(replay) == (409, "unlock_challenge_used")
    assert len(emulator.calls_to(VERIFY_SIGNATURE)) == 1  # refused before asking WeChat


def test_a_challenge_we_never_issued_is_unknown(
    wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    body = soter_signed(emulator, "a-challenge-of-my-own-making")
    assert _code(post_unlock(wechat_client, citizen.access_token, body)) == (
        400,
        "unlock_challenge_unknown",
    )
    assert emulator.calls_to(VERIFY_SIGNATURE) == []


def test_a_stale_challenge_is_refused(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, citizen: Any, pinned: Any
) -> None:
    ttl = settings(wechat_app).unlock_challenge_ttl_s
    token = citizen.access_token
    fresh = unlock_challenge(wechat_client, token)
    stale = unlock_challenge(wechat_client, token)
    pinned.advance(ttl - 1)
    assert post_unlock(wechat_client, token, soter_signed(emulator, fresh)).status_code == 200
    pinned.advance(1)
    assert _code(post_unlock(wechat_client, token, soter_signed(emulator, stale))) == (
        400,
        "unlock_challenge_expired",
    )


def test_a_challenge_of_another_session_is_refused_and_not_burnt(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, citizen: Any, login: Any
) -> None:
    other_session = login(OPENID, "device-1").access_token  # same citizen and phone, new login
    challenge = unlock_challenge(wechat_client, citizen.access_token)
    body = soter_signed(emulator, challenge)
    refused = post_unlock(wechat_client, other_session, body)
    assert _code(refused) == (400, "unlock_challenge_unknown")
    assert post_unlock(wechat_client, citizen.access_token, body).status_code == 200


def test_the_window_closes(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, citizen: Any, pinned: Any
) -> None:
    window = settings(wechat_app).unlock_window_s
    token = citizen.access_token
    assert (
        post_unlock(
            wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token))
        ).status_code
        == 200
    )
    pinned.advance(window - 1)
    assert wechat_client.post(PRESENT, headers=auth(token)).status_code == 201
    pinned.advance(1)
    assert _code(wechat_client.post(PRESENT, headers=auth(token))) == (403, "unlock_required")


def test_the_window_belongs_to_the_device(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, citizen: Any, login: Any
) -> None:
    token = citizen.access_token
    assert (
        post_unlock(
            wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token))
        ).status_code
        == 200
    )
    assert wechat_client.post(PRESENT, headers=auth(token)).status_code == 201
    # The same account signs in on another phone: the window of device-1 does not carry over.
    phone_b = login(OPENID, "device-2").access_token
    assert _code(wechat_client.post(PRESENT, headers=auth(phone_b))) == (403, "unlock_required")


def test_switching_off_needs_an_unlock_and_the_method_must_match(
    wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    token = citizen.access_token
    assert _code(switch_unlock(wechat_client, token, "off")) == (403, "unlock_required")
    assert _code(switch_unlock(wechat_client, token, "face")) == (403, "unlock_required")
    face = soter_signed(emulator, unlock_challenge(wechat_client, token), mode="facial")
    assert _code(post_unlock(wechat_client, token, face)) == (403, "unlock_method_mismatch")
    assert (
        post_unlock(
            wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token))
        ).status_code
        == 200
    )
    switched = switch_unlock(wechat_client, token, "off")
    assert switched.status_code == 200 and switched.get_json()["unlock_with"] == "off"
    kept = wechat_client.put(
        PREFS, json={"notify_on_verification": True}, headers=auth(token)
    ).get_json()
    assert kept == {"notify_on_verification": True, "unlock_with": "off"}


def test_face_unlock_carries_amr_face(
    wechat_client: Any, emulator: Emulator, wechat_app: Any, login: Any
) -> None:
    holder = enrolled(wechat_app, login)
    token = holder.access_token
    assert switch_unlock(wechat_client, token, "face").status_code == 200
    face = soter_signed(emulator, unlock_challenge(wechat_client, token), mode="facial")
    assert post_unlock(wechat_client, token, face).get_json()["amr"] == "face"
    minted = wechat_client.post(PRESENT, headers=auth(token)).get_json()["token"]
    assert split(minted)[1]["amr"] == ["face"]


def test_wechat_down_is_503_and_the_result_can_be_sent_again(
    wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    token = citizen.access_token
    body = soter_signed(emulator, unlock_challenge(wechat_client, token))
    emulator.fail(VERIFY_SIGNATURE, -1, times=1)
    down = post_unlock(wechat_client, token, body)
    assert _code(down) == (503, "wechat_unavailable")
    assert down.headers["Retry-After"] == "1"
    assert post_unlock(wechat_client, token, body).status_code == 200


def test_fifty_parallel_submissions_of_one_unlock_succeed_once(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, citizen: Any
) -> None:
    body = soter_signed(emulator, unlock_challenge(wechat_client, citizen.access_token))

    def submit(_: int) -> int:
        return int(post_unlock(wechat_app.test_client(), citizen.access_token, body).status_code)

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(submit, range(50)))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 49, statuses
    assert len(emulator.calls_to(VERIFY_SIGNATURE)) == 1


def test_a_password_presentation_needs_the_unlock_too_and_carries_both_factors(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    holder = enrolled(wechat_app, login, level="upgraded")
    with database(wechat_app).transaction() as session:
        session.add(
            CredentialPassword(
                credential_id=holder.credential_id, password_hash=hash_password("27364159")
            )
        )
    token = holder.access_token
    assert switch_unlock(wechat_client, token, "fingerprint").status_code == 200
    path = "/api/v1/credentials/current/password-presentations"
    body = {"password": "27364159"}
    refused = wechat_client.post(path, json=body, headers=auth(token))
    assert _code(refused) == (403, "unlock_required")
    assert (
        post_unlock(
            wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token))
        ).status_code
        == 200
    )
    minted = wechat_client.post(path, json=body, headers=auth(token))
    assert minted.status_code == 201, minted.get_json()
    presentation = minted.get_json()["token"]
    assert split(presentation)[1]["amr"] == ["pwd", "fpt"]
    key = merchant_key(wechat_app, category="government", scopes=["result"])
    status, verdict = verify(
        wechat_client, key, presentation, required_level="upgraded", required_factors=["password"]
    )
    assert status == 200 and verdict["result"] == "valid", verdict


def test_a_merchant_can_require_the_biometric_factor(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    holder = enrolled(wechat_app, login)
    token = holder.access_token
    key = merchant_key(wechat_app, category="government", scopes=["result"])
    plain = wechat_client.post(PRESENT, headers=auth(token)).get_json()["token"]
    status, verdict = verify(wechat_client, key, plain, required_factors=["biometric"])
    assert (status, verdict) == (200, {"result": "invalid", "reason": "factor_missing"})
    # Unlocked without the preference on: the token says so truthfully, and passes.
    assert (
        post_unlock(
            wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token))
        ).status_code
        == 200
    )
    unlocked = wechat_client.post(PRESENT, headers=auth(token)).get_json()["token"]
    assert split(unlocked)[1]["amr"] == ["fpt"]
    status, verdict = verify(wechat_client, key, unlocked, required_factors=["biometric"])
    assert status == 200 and verdict["result"] == "valid", verdict
    both = wechat_client.post(PRESENT, headers=auth(token)).get_json()["token"]
    status, verdict = verify(wechat_client, key, both, required_factors=["biometric", "password"])
    assert (status, verdict) == (200, {"result": "invalid", "reason": "factor_missing"})
