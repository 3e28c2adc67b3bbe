"""Token-carrying answers are never cached; HTML pages served over HTTPS carry HSTS.

HTTPS is seen the way production sees it: directly (an ``https`` base URL) or through the
trusted proxy's ``X-Forwarded-Proto`` (ProxyFix, ``WANGZHENG_TRUSTED_PROXIES``). A client that
forges that header without a trusted proxy in front does not make a plain request "secure".
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.security_headers import HSTS
from bot.wechat.emulator.server import Emulator
from tests.handlers.verify_helpers import enrolled
from tests.kit.device import TestDevice

PAGES = ["/pass", "/merchant", "/docs", "/no-such-page"]
HTML = {"Accept": "text/html"}


def test_login_and_refresh_tokens_are_never_stored(wechat_client: Any, emulator: Emulator) -> None:
    phone = TestDevice("device-cache-1", model="iPhone 15")
    login = wechat_client.post(
        "/api/v1/mp/login", json=phone.login_body(wechat_client, emulator.issue_code("alice"))
    )
    assert login.status_code == 200 and login.get_json()["access_token"]
    assert login.headers["Cache-Control"] == "no-store"
    refresh = wechat_client.post(
        "/api/v1/mp/refresh", json={"refresh_token": login.get_json()["refresh_token"]}
    )
    assert refresh.status_code == 200 and refresh.get_json()["access_token"]
    assert refresh.headers["Cache-Control"] == "no-store"


def test_presentations_qr_and_the_credential_are_never_stored(
    app: Any, client: Any, login: Any
) -> None:
    citizen = enrolled(app, login)
    bearer = {"Authorization": f"Bearer {citizen.access_token}"}
    for method, path, status in (
        ("post", "/api/v1/credentials/current/presentations", 201),
        ("post", "/api/v1/credentials/current/qr", 201),
        ("get", "/api/v1/credentials/current", 200),
    ):
        response = getattr(client, method)(path, headers=bearer)
        assert response.status_code == status, (path, response.get_json())
        assert response.headers["Cache-Control"] == "no-store", path


def test_a_view_that_chose_caching_keeps_it(client: Any) -> None:
    assert client.get("/.well-known/jwks.json").headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize("path", PAGES)
def test_pages_over_https_carry_hsts(client: Any, path: str) -> None:
    secure = client.get(path, headers=HTML, base_url="https://wangzheng.example")
    assert secure.mimetype == "text/html"
    assert secure.headers["Strict-Transport-Security"] == HSTS
    plain = client.get(path, headers=HTML)
    assert "Strict-Transport-Security" not in plain.headers


def test_https_behind_the_trusted_proxy_gets_hsts(make_app: Any) -> None:
    client = make_app(trusted_proxies=1).test_client()
    forwarded = {**HTML, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    assert client.get("/pass", headers=forwarded).headers["Strict-Transport-Security"] == HSTS
    assert "Strict-Transport-Security" not in client.get("/pass", headers=HTML).headers


def test_a_forged_forwarded_proto_without_a_trusted_proxy_is_not_https(make_app: Any) -> None:
    client = make_app(trusted_proxies=0).test_client()
    forged = {**HTML, "X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in client.get("/pass", headers=forged).headers
