"""The card pack against the emulator over loopback HTTP: class, cardExt, events, revocation."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.credentials.service import new_card_code
from bot.extensions import database
from bot.wechat.app import wechat_api
from bot.wechat.cards import activate_member_card, card_ext_for, make_card_unavailable
from bot.wechat.config import DEV_APP_ID, DEV_CARD_ID
from bot.wechat.emulator import WebhookSender, event_xml
from bot.wechat.emulator.server import Emulator
from bot.wechat.errors import CardPackDisabled
from storage.models.card_event import CardEvent
from storage.models.outbox import OutboxMessage

OPENID = "o-card-holder"


def _outbox(app: Any) -> list[OutboxMessage]:
    with database(app).transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_create_card_class_command(wechat_app: Any, emulator: Emulator) -> None:
    result = wechat_app.test_cli_runner().invoke(
        args=["wechat", "create-card-class", "--mp-username", "gh_abc@app"]
    )
    assert result.exit_code == 0, result.output
    card_id = result.stdout.strip().splitlines()[0]
    card = emulator.card_classes[card_id]
    assert card["card_type"] == "MEMBER_CARD"
    member = card["member_card"]
    assert member["base_info"]["code_type"] == "CODE_TYPE_QRCODE"
    assert member["base_info"]["use_custom_code"] is True
    assert member["custom_cell1"]["app_brand_user_name"] == "gh_abc@app"
    assert member["custom_cell1"]["app_brand_pass"] == "pages/pass/index"


def test_card_codes_are_opaque_and_unique() -> None:
    codes = {new_card_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(code) == 32 and int(code, 16) >= 0 for code in codes)


def test_card_ext_signature(wechat_app: Any, emulator: Emulator) -> None:
    with wechat_app.app_context():
        api = wechat_api()
        ext = card_ext_for(api, openid=OPENID, code="c" * 32, timestamp=1700000000, nonce_str="n1")
        ticket = api.card_api_ticket()
    assert ext.card_id == DEV_CARD_ID
    fields = json.loads(ext.card_ext)
    parts = sorted([ticket, "1700000000", DEV_CARD_ID, "c" * 32, OPENID, "n1"])
    assert fields["signature"] == hashlib.sha1("".join(parts).encode()).hexdigest()
    assert fields == {**fields, "code": "c" * 32, "openid": OPENID, "timestamp": "1700000000"}
    assert len(emulator.calls_to("/cgi-bin/ticket/getticket")) == 1  # cached afterwards


def test_card_lifecycle(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    sender: WebhookSender,
) -> None:
    app_db = database(wechat_app)
    code = new_card_code()
    with wechat_app.app_context():
        api = wechat_api()
        ext = card_ext_for(api, openid=OPENID, code=code)
        emulator.add_card(OPENID, ext.card_id, code)  # the user taps "add" in wx.addCard
        xml = event_xml(
            DEV_APP_ID, OPENID, Event="user_get_card", CardId=ext.card_id, UserCardCode=code
        )
        query, body = sender.build(xml)
        assert (
            wechat_client.post("/wechat/callback", query_string=query, data=body).status_code == 200
        )
        activate_member_card(api, code=code, membership_number=new_card_code())
        assert emulator.cards[code].activated
        with app_db.transaction() as session:
            assert make_card_unavailable(session, code=code, reason="revoked")
            assert emulator.cards[code].status == "NORMAL"  # nothing leaves before commit
    assert emulator.cards[code].status == "UNAVAILABLE"
    assert [row.status for row in _outbox(wechat_app)] == ["sent"]
    with app_db.transaction() as session:
        assert session.scalars(select(CardEvent.user_card_code)).all() == [code]
    (call,) = emulator.calls_to("/card/code/unavailable")
    assert call.body == {"code": code, "card_id": DEV_CARD_ID}


def test_unavailable_for_an_unknown_code_is_done(wechat_app: Any, emulator: Emulator) -> None:
    with wechat_app.app_context(), database(wechat_app).transaction() as session:
        make_card_unavailable(session, code="never-added-to-the-card-pack")
    assert [row.status for row in _outbox(wechat_app)] == ["sent"]


def test_rolled_back_revocation_sends_nothing(wechat_app: Any, emulator: Emulator) -> None:
    with pytest.raises(RuntimeError), wechat_app.app_context():
        with database(wechat_app).transaction() as session:
            make_card_unavailable(session, code="x" * 32)
            raise RuntimeError("the credential revocation failed")
    assert _outbox(wechat_app) == []
    assert emulator.calls_to("/card/code/unavailable") == []


def test_disabled_card_pack(
    wechat_app_config: dict[str, Any], make_app: Any, emulator: Emulator
) -> None:
    app = make_app(wechat_card_enabled=False)  # on top of wechat_app_config
    with app.app_context():
        with pytest.raises(CardPackDisabled):
            card_ext_for(wechat_api(), openid=OPENID, code="c" * 32)
        with database(app).transaction() as session:
            make_card_unavailable(session, code="c" * 32)
    assert [row.status for row in _outbox(app)] == ["dropped"]
    assert emulator.calls_to("/card/code/unavailable") == []
