"""Device keys (issue 12): every login proves the install's P-256 key over a single-use nonce.

The attack tests: a copied ``device_id`` without the private key, a replayed nonce, a signature
moved to another device id, an expired nonce (on the app's clock), and a session that never
proved its device asking for a presentation token.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from bot.extensions import clock, database
from bot.wechat.emulator.server import Emulator
from storage.models.app_session import AppSession
from storage.models.credential import Credential
from storage.models.device_key import DeviceKey
from tests.kit.device import TestDevice
from tests.registry_factories import add_record, issue

LOGIN = "/api/v1/mp/login"
PRESENT = "/api/v1/credentials/current/presentations"


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, (response.get_json() or {}).get("error", {}).get("code", "")


def _sessions(app: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AppSession)) or 0)


def test_first_login_registers_the_key_and_later_logins_prove_it(
    wechat_app: Any, wechat_client: Any
) -> None:
    phone = TestDevice("device-keyed-1", model="iPhone 15")
    first = wechat_client.post(LOGIN, json=phone.login_body(wechat_client, "dev:kim"))
    assert first.status_code == 200, first.get_json()
    with database(wechat_app).transaction() as session:
        (key,) = session.scalars(select(DeviceKey)).all()
        assert (key.device_id, key.public_key) == ("device-keyed-1", phone.public_key_der)
    again = {
        "code": "dev:kim",
        "device": {"device_id": phone.device_id},
        "device_key": phone.proof(wechat_client, send_key=False),
    }
    second = wechat_client.post(LOGIN, json=again)
    assert second.status_code == 200, second.get_json()
    token = second.get_json()["access_token"]
    # A proven session may ask for presentation tokens (404: it simply holds no credential yet).
    answer = wechat_client.post(PRESENT, headers={"Authorization": f"Bearer {token}"})
    assert _error(answer) == (404, "no_credential")


def test_a_copied_device_id_without_the_private_key_cannot_sign_in(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    """The intruder knows the victim's device id (and can get a login code for the account),
    but not the key in the victim's mini-program storage."""
    victim = TestDevice("device-victim-1")
    signed_in = wechat_client.post(LOGIN, json=victim.login_body(wechat_client, "dev:vic"))
    assert signed_in.status_code == 200
    subject = add_record(wechat_app)
    openid = emulator.openid_for("vic")
    issued = issue(wechat_app, subject, openid=openid, device_id=victim.device_id)
    sessions = _sessions(wechat_app)

    intruder = TestDevice("device-victim-1")  # the same id, another key
    offered = wechat_client.post(LOGIN, json=intruder.login_body(wechat_client, "dev:vic"))
    assert _error(offered) == (401, "device_proof_invalid")
    unsent = {
        "code": "dev:vic",
        "device": {"device_id": victim.device_id},
        "device_key": intruder.proof(wechat_client, send_key=False),
    }
    assert _error(wechat_client.post(LOGIN, json=unsent)) == (401, "device_proof_invalid")
    # Nothing was written: no session, and the victim's credential is untouched and still active.
    assert _sessions(wechat_app) == sessions
    with database(wechat_app).transaction() as session:
        credential = session.get(Credential, issued.credential_id)
        assert credential is not None and credential.status == "active"
        assert len(session.scalars(select(DeviceKey)).all()) == 1


def test_a_nonce_is_single_use_and_bound_to_the_device_id(wechat_client: Any) -> None:
    phone = TestDevice("device-nonce-1")
    body = phone.login_body(wechat_client, "dev:nora")
    assert wechat_client.post(LOGIN, json=body).status_code == 200
    assert _error(wechat_client.post(LOGIN, json=body)) == (401, "login_nonce_invalid")

    moved = phone.login_body(wechat_client, "dev:nora")
    moved["device"] = {"device_id": "device-nonce-2"}  # signed for device-nonce-1
    assert _error(wechat_client.post(LOGIN, json=moved)) == (401, "device_proof_invalid")
    # The failed try used its nonce up too.
    assert _error(wechat_client.post(LOGIN, json=moved)) == (401, "login_nonce_invalid")
    made_up = phone.login_body(wechat_client, "dev:nora")
    made_up["device_key"]["nonce"] = "n" * 32
    assert _error(wechat_client.post(LOGIN, json=made_up)) == (401, "login_nonce_invalid")


def test_a_nonce_expires_on_the_app_clock(wechat_app: Any, wechat_client: Any) -> None:
    app_clock = clock(wechat_app)
    app_clock.set(1_900_000_000)
    phone = TestDevice("device-late-1")
    late = phone.login_body(wechat_client, "dev:lee")
    app_clock.advance(121)
    assert _error(wechat_client.post(LOGIN, json=late)) == (401, "login_nonce_invalid")
    timely = phone.login_body(wechat_client, "dev:lee")
    app_clock.advance(119)
    assert wechat_client.post(LOGIN, json=timely).status_code == 200


def test_malformed_and_foreign_keys_are_refused_before_any_write(
    wechat_app: Any, wechat_client: Any
) -> None:
    phone = TestDevice("device-bad-key-1")
    garbage = phone.login_body(wechat_client, "dev:gus")
    garbage["device_key"]["public_key"] = base64.b64encode(b"not a key at all").decode()
    assert _error(wechat_client.post(LOGIN, json=garbage)) == (400, "device_key_invalid")

    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    foreign = phone.login_body(wechat_client, "dev:gus")
    foreign["device_key"]["public_key"] = base64.b64encode(p384).decode()
    assert _error(wechat_client.post(LOGIN, json=foreign)) == (400, "device_key_invalid")

    keyless = {
        "code": "dev:gus",
        "device": {"device_id": phone.device_id},
        "device_key": phone.proof(wechat_client, send_key=False),
    }
    assert _error(wechat_client.post(LOGIN, json=keyless)) == (400, "device_key_invalid")
    missing = {"code": "dev:gus", "device": {"device_id": phone.device_id}}
    assert _error(wechat_client.post(LOGIN, json=missing)) == (400, "validation_error")
    assert _sessions(wechat_app) == 0


def test_presentations_need_a_session_that_proved_its_device(
    app: Any, client: Any, unproven_login: Any
) -> None:
    tokens = unproven_login("o-unproven", "device-unproven-1")
    subject = add_record(app)
    issue(app, subject, openid="o-unproven", device_id="device-unproven-1")
    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
    # Every endpoint that mints a presentation token: the JSON one, the pass page's QR, and the
    # password presentation of an upgraded credential.
    for path, body in (
        (PRESENT, None),
        ("/api/v1/credentials/current/qr", None),
        ("/api/v1/credentials/current/password-presentations", {"password": "27364159"}),
    ):
        answer = client.post(path, headers=bearer, json=body)
        assert _error(answer) == (403, "device_not_proven"), path
