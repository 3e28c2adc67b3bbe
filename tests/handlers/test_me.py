"""The citizen's preferences, and the "verified by a merchant" message they switch on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.extensions import database
from storage.models.outbox import OutboxMessage
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify


def _queued_kinds(app: Any) -> list[str]:
    with database(app).transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [json.loads(row.payload).get("kind", row.kind) for row in rows]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Keep queued messages in the outbox so the test can read them."""
    return {**app_config, "wechat_outbox_dispatch": "off"}


def test_preferences_round_trip_and_validation(client: Any, login: Any) -> None:
    headers = {"Authorization": f"Bearer {login().access_token}"}
    assert client.get("/api/v1/me/preferences", headers=headers).json == {
        "notify_on_verification": False,
        "unlock_with": "off",
    }
    changed = client.put(
        "/api/v1/me/preferences", json={"notify_on_verification": True}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json == {"notify_on_verification": True, "unlock_with": "off"}
    for bad in (
        {"notify_on_verification": "yes"},
        {},
        {"notify_on_verification": True, "x": 1},
        {"notify_on_verification": True, "unlock_with": "iris"},
        {"notify_on_verification": True, "unlock_with": True},
    ):
        response = client.put("/api/v1/me/preferences", json=bad, headers=headers)
        assert (response.status_code, response.json["error"]["code"]) == (400, "validation_error")
    assert client.put("/api/v1/me/preferences", json={}).status_code == 401


def test_verification_message_only_when_switched_on(app: Any, client: Any, login: Any) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"
    assert "verified_by_merchant" not in _queued_kinds(app)
    headers = {"Authorization": f"Bearer {citizen.access_token}"}
    client.put("/api/v1/me/preferences", json={"notify_on_verification": True}, headers=headers)
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"
    assert _queued_kinds(app).count("verified_by_merchant") == 1
