"""`/api/v1/mp/login` and `/refresh` against the emulator: success, WeChat errors, validation."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from bot.credentials.service import issue_credential, new_card_code
from bot.extensions import database
from bot.vocab import Level
from bot.wechat.emulator.server import Emulator
from storage.models.app_session import AppSession
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.outbox import OutboxMessage
from tests.kit.device import TestDevice
from tests.registry_factories import add_record

LOGIN = "/api/v1/mp/login"
CODE_PATH = "/sns/jscode2session"
DEVICE = {"device_id": "device-aaaa-1", "model": "iPhone 15"}
PHONE = TestDevice(DEVICE["device_id"])  # the install's key pair (tests/kit/device.py)


def _body(client: Any, code: str, phone: TestDevice = PHONE) -> dict[str, Any]:
    """A login body for ``code`` from ``phone``, signed over a fresh nonce."""
    described = DEVICE if phone is PHONE else {"device_id": phone.device_id}
    return {**phone.login_body(client, code), "device": described}


def _count(app: Any, model: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_login_opens_a_device_bound_session(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
) -> None:
    code = emulator.issue_code("alice")
    response = wechat_client.post(LOGIN, json=_body(wechat_client, code))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["device_changed"] is False
    (call,) = emulator.calls_to(CODE_PATH)
    assert call.params["grant_type"] == "authorization_code"
    assert "access_token" not in call.params  # jscode2session needs none, and none was fetched
    assert emulator.calls_to("/cgi-bin/token") == []
    with database(wechat_app).transaction() as session:
        citizen = session.scalars(select(Citizen)).one()
        assert citizen.openid == emulator.openid_for("alice")
        assert citizen.unionid
        assert citizen.current_device_id == DEVICE["device_id"]
    # WeChat's session_key is not stored (issue 10): nothing reads it, so no column holds it.
    columns = inspect(database(wechat_app).engine).get_columns("citizens")
    assert not [column["name"] for column in columns if "session_key" in column["name"]]
    me = wechat_client.post(
        "/api/v1/mp/refresh", json={"refresh_token": body["refresh_token"]}
    ).get_json()
    assert me["access_token"] != body["access_token"]


def test_dev_codes_map_to_stable_openids(wechat_client: Any, emulator: Emulator) -> None:
    for _ in range(2):
        response = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:bob"))
        assert response.status_code == 200
    assert emulator.openid_for("bob") != emulator.openid_for("alice")


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 401, "invalid_code"),
        (40163, 401, "invalid_code"),
        (45011, 429, "wechat_rate_limited"),
        (-1, 503, "wechat_unavailable"),
        (40013, 502, "wechat_error"),
    ],
)
def test_wechat_login_errors(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    errcode: int,
    status: int,
    code: str,
) -> None:
    emulator.fail(CODE_PATH, errcode)
    response = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:alice"))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    if status in (429, 503):
        assert response.headers["Retry-After"]
    assert _count(wechat_app, Citizen) == 0


def test_a_used_code_is_invalid(wechat_client: Any, emulator: Emulator) -> None:
    code = emulator.issue_code("carol")
    assert wechat_client.post(LOGIN, json=_body(wechat_client, code)).status_code == 200
    again = wechat_client.post(LOGIN, json=_body(wechat_client, code))
    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "invalid_code"


def test_wechat_timeout_is_503(wechat_client: Any, emulator: Emulator) -> None:
    emulator.delay(CODE_PATH, 1.5)
    response = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:alice"))
    assert response.status_code == 503


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "malformed_body"),
        ({"data": "code=x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"json": {"device": DEVICE}}, 400, "validation_error"),
        ({"json": {"code": "dev:a"}}, 400, "validation_error"),
        ({"json": {"code": 123, "device": DEVICE}}, 400, "validation_error"),
        ({"json": {"code": "dev:a", "device": {"device_id": 5}}}, 400, "validation_error"),
        ({"json": {"code": "dev:a", "device": DEVICE, "admin": True}}, 400, "validation_error"),
        ({"json": {"code": "", "device": DEVICE}}, 400, "validation_error"),
        ({"json": ["dev:a"]}, 400, "validation_error"),
    ],
)
def test_bad_requests_write_nothing(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = wechat_client.post(LOGIN, **kwargs)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert emulator.calls_to(CODE_PATH) == []
    assert _count(wechat_app, Citizen) == 0
    assert _count(wechat_app, AppSession) == 0


def test_login_on_another_device_revokes_the_old_one(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
) -> None:
    first = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:dave")).get_json()
    app_db = database(wechat_app)
    with app_db.transaction() as session:
        openid = session.scalars(select(Citizen.openid)).one()
    code = new_card_code()
    with app_db.transaction() as session:
        old = issue_credential(
            session,
            subject_id=add_record(wechat_app),
            level=Level.LIGHT,
            openid=openid,
            device_id=DEVICE["device_id"],
            card_code=code,
        )
    other = TestDevice("device-bbbb-2")
    second = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:dave", other)).get_json()
    assert second["device_changed"] is True
    with app_db.transaction() as session:
        revoked = session.get(Credential, old.credential_id)
        assert revoked is not None
        assert (revoked.status, revoked.reason) == ("revoked", "device_changed")
        payloads = [row.payload for row in session.scalars(select(OutboxMessage))]
    assert any("credential_removed" in payload for payload in payloads)
    assert [
        (call.body or {}).get("code") for call in emulator.calls_to("/card/code/unavailable")
    ] == [code]
    stale = wechat_client.post("/api/v1/mp/refresh", json={"refresh_token": first["refresh_token"]})
    assert stale.status_code == 401


def test_refresh_replay_revokes_the_family(wechat_client: Any) -> None:
    tokens = wechat_client.post(LOGIN, json=_body(wechat_client, "dev:erin")).get_json()
    rotated = wechat_client.post(
        "/api/v1/mp/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    replay = wechat_client.post(
        "/api/v1/mp/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "token_replayed"
    newest = rotated.get_json()["refresh_token"]
    after = wechat_client.post("/api/v1/mp/refresh", json={"refresh_token": newest})
    assert after.status_code == 401  # the revocation of the family was committed


def test_openapi_documents_login(wechat_client: Any) -> None:
    spec = wechat_client.get("/openapi.json").get_json()
    assert "/api/v1/mp/login" in spec["paths"]
    assert "LoginIn" in spec["components"]["schemas"]


def test_secrets_never_reach_the_logs(
    wechat_client: Any,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code = emulator.issue_code("frank")
    body = wechat_client.post(LOGIN, json=_body(wechat_client, code)).get_json()
    wechat_client.post("/api/v1/mp/refresh", json={"refresh_token": body["refresh_token"]})
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (code, body["access_token"], body["refresh_token"], emulator.app_secret):
        assert secret not in text
