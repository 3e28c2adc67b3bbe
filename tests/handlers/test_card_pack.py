"""The pass in the WeChat card pack: cardExt for the bound device, and the card made unavailable
when its credential ends (superseded, revoked, device changed), against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.credentials.service import issue_credential, new_card_code, revoke_for_device_change
from bot.extensions import database
from bot.vocab import Level
from bot.wechat.config import DEV_APP_ID, DEV_CARD_ID
from bot.wechat.emulator import WebhookSender, event_xml
from bot.wechat.emulator.server import Emulator
from storage.models.card_event import CardEvent
from storage.models.credential import Credential
from tests.registry_factories import add_record


def _issue(app: Any, subject_id: int, openid: str, device_id: str) -> str:
    code = new_card_code()
    with database(app).transaction() as session:
        issue_credential(
            session,
            subject_id=subject_id,
            level=Level.LIGHT,
            openid=openid,
            device_id=device_id,
            card_code=code,
        )
    return code


def test_bound_device_gets_a_signed_card_ext(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    tokens = login("o-card", "phone-1")
    code = _issue(wechat_app, add_record(wechat_app), "o-card", "phone-1")
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    response = wechat_client.post("/api/v1/credentials/current/card", headers=headers)
    assert response.status_code == 201, response.json
    assert response.json["card_id"] == DEV_CARD_ID
    ext = json.loads(response.json["card_ext"])
    assert ext["code"] == code and ext["openid"] == "o-card" and len(ext["signature"]) == 40
    assert len(code) == 32 and int(code, 16) >= 0  # random hex, nothing derived from the person

    other = login("o-card", "phone-2")
    elsewhere = wechat_client.post(
        "/api/v1/credentials/current/card",
        headers={"Authorization": f"Bearer {other.access_token}"},
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json["error"]["code"] == "device_not_bound"


def test_card_is_made_unavailable_when_its_credential_ends(
    wechat_app: Any,
    emulator: Emulator,
) -> None:
    subject = add_record(wechat_app)
    with wechat_app.app_context():  # the outbox sends after commit, from the app
        first = _issue(wechat_app, subject, "o-card", "phone-1")
        second = _issue(wechat_app, subject, "o-card", "phone-1")  # re-issued: first superseded
        with database(wechat_app).transaction() as session:
            assert revoke_for_device_change(session, "o-card", "phone-1") == 1
    calls = [(call.body or {}).get("code") for call in emulator.calls_to("/card/code/unavailable")]
    assert calls == [first, second]


@pytest.fixture
def card_off(wechat_app_config: dict[str, Any]) -> dict[str, Any]:
    """The WeChat settings with the card pack switched off (set before the app is built)."""
    wechat_app_config["wechat_card_enabled"] = False
    return wechat_app_config


def test_card_pack_switched_off(
    card_off: dict[str, Any],
    app: Any,
    client: Any,
    login: Any,
    emulator: Emulator,
) -> None:
    tokens = login("o-off", "phone-1")
    _issue(app, add_record(app), "o-off", "phone-1")
    response = client.post(
        "/api/v1/credentials/current/card",
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "card_pack_disabled"
    assert emulator.calls_to("/cgi-bin/ticket/getticket") == []


def test_card_events_are_recorded_against_their_credential(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    sender: WebhookSender,
) -> None:
    code = _issue(wechat_app, add_record(wechat_app), "o-card", "phone-1")
    for event, card_code in (("user_get_card", code), ("user_view_card", "not-one-of-ours")):
        xml = event_xml(
            DEV_APP_ID, "o-card", Event=event, CardId=DEV_CARD_ID, UserCardCode=card_code
        )
        query, body = sender.build(xml)
        response = wechat_client.post("/wechat/callback", query_string=query, data=body)
        assert response.status_code == 200
    with database(wechat_app).transaction() as session:
        rows = session.execute(
            select(CardEvent.event, CardEvent.credential_id).order_by(CardEvent.id)
        ).all()
        credential_id = session.scalar(select(Credential.id).where(Credential.card_code == code))
    assert [tuple(row) for row in rows] == [
        ("user_get_card", credential_id),
        ("user_view_card", None),
    ]
