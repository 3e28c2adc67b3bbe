"""The per-merchant-key rate limit of the verify API (limit lowered to 3 a minute here)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.handlers.verify_helpers import merchant_key, verify


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "merchant_rate_limit_per_min": 3}


def test_rate_limit_per_key(app: Any, client: Any) -> None:
    key, other = merchant_key(app), merchant_key(app, name="Other")
    codes = [verify(client, key, "a.b.c")[0] for _ in range(4)]
    if codes[-1] != 429:  # the one-minute window may have turned over mid-test
        codes = [verify(client, key, "a.b.c")[0] for _ in range(4)]
    assert 429 in codes
    response = client.post(
        "/api/v1/verify", json={"token": "x"}, headers={"Authorization": f"Bearer {key}"}
    )
    if response.status_code == 429:
        assert response.get_json()["error"]["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) <= 60
    assert verify(client, other, "a.b.c")[0] == 200
