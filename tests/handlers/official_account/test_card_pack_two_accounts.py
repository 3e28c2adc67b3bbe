"""The card pack in a two-account deployment: the card classes belong to the official account,
so its access token and its ``wx_card`` api_ticket are the ones to use (the emulator refuses
the mini-program's, as WeChat does), and the cardExt names no mini-program openid."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.credentials.service import issue_credential, new_card_code, revoke_for_device_change
from bot.extensions import database
from bot.vocab import Level
from bot.wechat.config import DEV_CARD_ID
from bot.wechat.emulator.cards import wechat_sha1
from bot.wechat.emulator.server import Emulator
from tests.handlers.official_account.support import OA_APP_ID
from tests.registry_factories import add_record


def _card_ext(client: Any, access_token: str) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/credentials/current/card", headers={"Authorization": f"Bearer {access_token}"}
    )
    assert answer.status_code == 201, answer.get_json()
    body: dict[str, Any] = answer.get_json()
    return body


def test_the_card_is_signed_and_revoked_with_the_official_accounts_credentials(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    openid = emulator.openid_for("carol")
    tokens = login(openid, "phone-carol")
    code = new_card_code()
    with database(wechat_app).transaction() as session:
        issue_credential(
            session, subject_id=add_record(wechat_app), level=Level.LIGHT, openid=openid,
            device_id="phone-carol", card_code=code,
        )  # fmt: skip

    answer = _card_ext(wechat_client, tokens.access_token)
    ext = json.loads(answer["card_ext"])
    assert answer["card_id"] == DEV_CARD_ID and ext["code"] == code
    assert "openid" not in ext  # the official account's openid differs from the mini-program's
    (ticket_call,) = emulator.calls_to("/cgi-bin/ticket/getticket")
    assert emulator.token_app(ticket_call.params["access_token"]) == OA_APP_ID
    # WeChat's side of wx.addCard accepts it: signed with a ticket of the class's owner.
    oa_openid = emulator.openid_for("carol", OA_APP_ID)
    assert emulator.add_card_with_ext(oa_openid, DEV_CARD_ID, answer["card_ext"]) == code

    with wechat_app.app_context(), database(wechat_app).transaction() as session:
        assert revoke_for_device_change(session, openid, "phone-carol") == 1
    (removal,) = emulator.calls_to("/card/code/unavailable")
    assert emulator.token_app(removal.params["access_token"]) == OA_APP_ID
    assert emulator.cards[code].status == "UNAVAILABLE"


def test_the_emulator_refuses_card_work_under_the_mini_programs_token(
    emulator: Emulator,
) -> None:
    """The check above could not pass by accident: the mini-program's token is refused."""
    emulator.add_card("o-someone", DEV_CARD_ID, "c0de")
    mini_program = emulator._new_token(emulator.app_id)
    answer = emulator.card_pack.unavailable(emulator.token_app(mini_program), {"code": "c0de"})
    assert answer == 40073
    official = emulator.token_app(emulator._new_token(OA_APP_ID))
    assert emulator.card_pack.unavailable(official, {"code": "c0de"}) == {
        "errcode": 0,
        "errmsg": "ok",
    }


def test_a_card_ext_signed_with_another_apps_ticket_is_refused(emulator: Emulator) -> None:
    emulator.card_pack.record_ticket("ticket-of-the-mini-program", emulator.app_id)
    ext = {"code": "c0de", "timestamp": "1", "nonce_str": "n"}
    ext["signature"] = wechat_sha1("ticket-of-the-mini-program", DEV_CARD_ID, "c0de", "1", "n")
    with pytest.raises(ValueError, match="signature"):
        emulator.add_card_with_ext("o-x", DEV_CARD_ID, json.dumps(ext))
