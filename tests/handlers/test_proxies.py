"""``WANGZHENG_TRUSTED_PROXIES``: the audit's client-IP hash is the client's behind a trusted
proxy, and a client cannot choose it by sending ``X-Forwarded-For`` itself."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from sqlalchemy import select

from bot.crypto import keyed_hash
from bot.extensions import database, settings
from storage.models.verification_audit import VerificationAudit
from tests.device_keys import proven_session
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key

CLIENT = "203.0.113.7"
PROXY = "127.0.0.1"  # the test client's address: the proxy's, as the app sees the socket


def _audited_ip_hash(app: Any, forwarded_for: str | None) -> str:
    """Verify one token with this X-Forwarded-For, return the audit row's client-IP hash."""
    client = app.test_client()
    citizen = enrolled(app, functools.partial(_login, app))
    token = fetch_token(client, citizen.access_token)
    headers = {"Authorization": f"Bearer {merchant_key(app)}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    response = client.post("/api/v1/verify", json={"token": token}, headers=headers)
    assert response.status_code == 200, response.get_json()
    with database(app).transaction() as session:
        return str(session.scalars(select(VerificationAudit.client_ip_hash)).one())


def _login(app: Any, openid: str, device_id: str) -> Any:
    with database(app).transaction() as session:
        return proven_session(session, openid=openid, device_id=device_id)


def _hash(app: Any, address: str) -> str:
    return keyed_hash(settings(app).hash_key, address, "client_ip")


def test_one_trusted_proxy_hashes_the_forwarded_client(make_app: Any) -> None:
    app = make_app(trusted_proxies=1)
    assert _audited_ip_hash(app, CLIENT) == _hash(app, CLIENT)


def test_a_client_cannot_spoof_an_address_past_the_trusted_hop(make_app: Any) -> None:
    app = make_app(trusted_proxies=1)
    # The client sent "198.51.100.1" itself; the proxy appended the real peer address.
    assert _audited_ip_hash(app, f"198.51.100.1, {CLIENT}") == _hash(app, CLIENT)


@pytest.mark.parametrize("forwarded_for", [CLIENT, None])
def test_without_trusted_proxies_forwarded_for_is_ignored(
    make_app: Any, forwarded_for: str | None
) -> None:
    app = make_app(trusted_proxies=0)
    assert _audited_ip_hash(app, forwarded_for) == _hash(app, PROXY)
