"""Every path that carries a credential, driven with logging at DEBUG: no secret in any log line.

Covers the mini-program login and refresh (WeChat code, access and refresh tokens, session key),
the pass (presentation token), the merchant verify API (merchant key, token, ID number disclosed
under ``full_identity``), the admin API (admin key, new merchant key), and the citizen history.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.extensions import settings
from bot.wechat.emulator.server import Emulator
from tests.handlers.verify_helpers import enrolled, fetch_token, verify
from tests.kit.device import TestDevice
from tests.registry_factories import ADULT_ID


def test_no_credential_reaches_the_logs(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    login: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    client = wechat_client
    admin_key = settings(wechat_app).admin_key
    secrets: list[str] = [admin_key, emulator.app_secret, ADULT_ID]

    code = emulator.issue_code("grace")
    login_body = client.post(
        "/api/v1/mp/login", json=TestDevice("device-grace-1").login_body(client, code)
    ).get_json()
    refreshed = client.post(
        "/api/v1/mp/refresh", json={"refresh_token": login_body["refresh_token"]}
    ).get_json()
    secrets += [code, login_body["access_token"], login_body["refresh_token"]]
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]

    created = client.post(
        "/admin/api/merchants",
        json={"name": "Grand Hotel", "category": "hotel", "scopes": ["result", "full_identity"]},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert created.status_code == 201, created.get_json()
    merchant_key = created.get_json()["api_key"]
    secrets.append(merchant_key)

    citizen = enrolled(wechat_app, login, level="upgraded")
    token = fetch_token(client, citizen.access_token)
    secrets += [citizen.access_token, token]
    status, result = verify(client, merchant_key, token, scope="full_identity")
    assert status == 200 and result["result"] == "valid"
    assert result["claims"]["id_number"] == ADULT_ID  # disclosed to the hotel, never logged
    assert verify(client, merchant_key, token)[1]["reason"] == "replayed"
    history = client.get(
        "/api/v1/me/verifications", headers={"Authorization": f"Bearer {citizen.access_token}"}
    )
    assert history.status_code == 200
    bad = client.post(
        "/api/v1/verify", json={"token": token}, headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 401

    logged = "\n".join(
        [record.getMessage() + (record.exc_text or "") for record in caplog.records]
        + [capsys.readouterr().out]
    )
    assert "POST /api/v1/verify 200" in logged  # the access log did run
    leaked = [secret[:12] + "..." for secret in secrets if secret and secret in logged]
    assert leaked == []
