"""The per-merchant-key rate limit of the verify API (limit lowered to 3 a minute here).

The app's clock is pinned 30 s into a minute, so the window cannot turn over mid-test: the 429
is asserted every time, and the next window is reached by moving the clock, not by waiting.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.extensions import clock as app_clock
from tests.handlers.verify_helpers import merchant_key, verify

MID_MINUTE = 1_800_000_030.0  # 30 s past a whole minute (1_800_000_000 is divisible by 60)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "merchant_rate_limit_per_min": 3}


def test_rate_limit_per_key(app: Any, client: Any) -> None:
    clock = app_clock(app)
    clock.set(MID_MINUTE)
    key, other = merchant_key(app), merchant_key(app, name="Other")
    assert [verify(client, key, "a.b.c")[0] for _ in range(3)] == [200, 200, 200]
    response = client.post(
        "/api/v1/verify", json={"token": "x"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert response.headers["Retry-After"] == "30"  # the seconds left in this minute
    assert verify(client, other, "a.b.c")[0] == 200  # another key has its own window
    clock.advance(29)
    assert verify(client, key, "a.b.c")[0] == 429
    assert (
        client.post(
            "/api/v1/verify", json={"token": "x"}, headers={"Authorization": f"Bearer {key}"}
        ).headers["Retry-After"]
        == "1"
    )
    clock.advance(1)  # the next minute: a fresh window
    assert [verify(client, key, "a.b.c")[0] for _ in range(4)] == [200, 200, 200, 429]
