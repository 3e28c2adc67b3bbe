"""The official account as a chat-bot, with its own app id linked to the mini-program by UnionID.

Every message goes through the encrypted webhook exactly as WeChat sends it; the UnionID comes
from the emulator's ``cgi-bin/user/info`` over real HTTP, fetched by the outbox after commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from wechatpy.crypto import PrpCrypto

import bot.wechat.webhook as webhook
from bot.devices.sessions import open_session
from bot.extensions import database
from bot.wechat.config import (
    DEV_APP_ID,
    DEV_APP_SECRET,
    DEV_CARD_ID,
    DEV_ENCODING_AES_KEY,
    DEV_TOKEN,
)
from bot.wechat.emulator import RunningEmulator, WebhookSender, event_xml, serve
from bot.wechat.emulator.server import Emulator
from storage.models.credential import Credential
from storage.models.follower import Follower
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.registry_factories import add_record, issue

OA_APP_ID = "wx0de7e1000000emu2"
OA_SECRET = "wangzheng-development-official-account-secret"
USER_INFO = "/cgi-bin/user/info"


@pytest.fixture
def running_emulator() -> Iterator[RunningEmulator]:
    """An emulator serving the mini-program and a separate official account."""
    running = serve(
        Emulator(
            DEV_APP_ID,
            DEV_APP_SECRET,
            known_card_ids=(DEV_CARD_ID,),
            other_apps={OA_APP_ID: OA_SECRET},
        )
    )
    yield running
    running.stop()


@pytest.fixture
def wechat_app_config(wechat_app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared WeChat test settings, plus the official account's own app id."""
    wechat_app_config.update(wechat_oa_app_id=OA_APP_ID, wechat_oa_app_secret=OA_SECRET)
    return wechat_app_config


@pytest.fixture
def oa_sender() -> WebhookSender:
    """Pushes messages as WeChat does for the official account (its app id in the envelope)."""
    return WebhookSender(DEV_TOKEN, DEV_ENCODING_AES_KEY, OA_APP_ID)


def say(client: Any, sender: WebhookSender, openid: str, msg_type: str, **fields: Any) -> str:
    """Send one message through the encrypted webhook; the reply's text ("" for success)."""
    query, body = sender.build(event_xml(OA_APP_ID, openid, msg_type, **fields))
    response = client.post("/wechat/callback", query_string=query, data=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.get_data(as_text=True) == "success":
        return ""
    envelope = webhook.parse_xml(response.data)
    plain = PrpCrypto(webhook.aes_key_from(DEV_ENCODING_AES_KEY)).decrypt(
        envelope["Encrypt"], OA_APP_ID
    )
    reply = webhook.parse_xml(plain)
    assert reply["ToUserName"] == openid
    return reply["Content"]


def mini_program_user(app: Any, emulator: Emulator, name: str, *, credential: bool) -> str:
    """``name`` logs in to the mini-program (as jscode2session would record them) and, when
    asked, holds a light credential; returns their mini-program openid."""
    openid = emulator.openid_for(name)
    with database(app).transaction() as session:
        open_session(
            session,
            openid=openid,
            unionid=emulator.unionid_for(name),
            device_id=f"device-{name}",
            device_model=f"Phone of {name}",
        )
    if credential:
        subject = add_record(app, name="张三明" if name == "alice" else "李四光")
        issue(app, subject, openid=openid, device_id=f"device-{name}")
    return openid


def follow(client: Any, sender: WebhookSender, emulator: Emulator, name: str) -> str:
    """``name`` follows the official account; returns their official-account openid."""
    oa_openid = emulator.follow(name, OA_APP_ID)
    assert "欢迎使用网证" in say(client, sender, oa_openid, "event", Event="subscribe")
    return oa_openid


def test_two_apps_see_two_openids_and_one_unionid(emulator: Emulator) -> None:
    assert emulator.openid_for("alice") != emulator.openid_for("alice", OA_APP_ID)
    assert emulator.unionid_for("alice") != emulator.unionid_for("bob")


def test_subscribe_links_the_follower_by_unionid(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    calls = emulator.calls_to(USER_INFO)
    assert [call.params["openid"] for call in calls] == [oa_openid]
    assert emulator.token_app(calls[0].params["access_token"]) == OA_APP_ID  # the OA's token
    with database(wechat_app).transaction() as session:
        follower = session.scalars(select(Follower)).one()
        assert (follower.app_id, follower.openid) == (OA_APP_ID, oa_openid)
        assert follower.unionid == emulator.unionid_for("alice")
        assert follower.subscribed


def test_status_answers_from_the_followers_own_credential(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="状态")
    assert "网证状态：有效" in text
    assert "基础（黑白）" in text
    assert "Phone of alice" in text
    assert "最近核验：暂无" in text
    with database(wechat_app).transaction() as session:
        expires = session.scalars(select(Credential.expires_at)).one()
    assert expires.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat() in text


def test_history_lists_the_last_five_verifications_newest_first(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    oa_sender: WebhookSender,
    login: Any,
) -> None:
    mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    access = login(emulator.openid_for("alice"), "device-alice").access_token
    hotels = [f"酒店{index}" for index in range(6)]
    for index, hotel in enumerate(hotels):
        key = merchant_key(wechat_app, name=hotel)
        scope = "name_masked" if index == 5 else "result"
        status, _ = verify(wechat_client, key, fetch_token(wechat_client, access), scope=scope)
        assert status == 200
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="記錄")
    lines = text.splitlines()
    assert lines[0] == "最近 5 次核验："
    assert len(lines) == 6
    assert "酒店5" in lines[1] and "姓名（部分隐藏）" in lines[1]
    assert [hotel in text for hotel in hotels] == [False, True, True, True, True, True]
    assert "仅核验结果" in lines[2]
    status_text = say(wechat_client, oa_sender, oa_openid, "text", Content="ｓｔａｔｕｓ")  # noqa: RUF001
    assert "最近核验：" in status_text and "酒店5" in status_text


def test_a_menu_click_routes_like_the_command(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    by_click = say(
        wechat_client, oa_sender, oa_openid, "event", Event="CLICK", EventKey="WZ_STATUS"
    )
    by_text = say(wechat_client, oa_sender, oa_openid, "text", Content="狀態")
    assert "网证状态：有效" in by_click
    assert by_click == by_text
    help_text = say(wechat_client, oa_sender, oa_openid, "event", Event="CLICK", EventKey="WZ_HELP")
    assert "网证使用说明" in help_text


def test_a_follower_without_a_credential_is_told_so(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    mini_program_user(wechat_app, emulator, "bob", credential=False)
    oa_openid = follow(wechat_client, oa_sender, emulator, "bob")
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="状态")
    assert "没有有效的网证" in text
    assert f'data-miniprogram-appid="{DEV_APP_ID}"' in text
    assert say(wechat_client, oa_sender, oa_openid, "text", Content="记录") == "暂无核验记录。"


def test_an_unknown_follower_is_told_to_link_and_their_unionid_is_requested(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    # Follows, but the subscribe event was never delivered to us, and never used the mini-program.
    oa_openid = emulator.follow("carol", OA_APP_ID)
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="status")
    assert "尚未与网证小程序关联" in text
    assert "data-miniprogram-path" in text
    assert [call.params["openid"] for call in emulator.calls_to(USER_INFO)] == [oa_openid]
    # Linked now (UnionID known) but still no mini-program account: a different answer.
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="status")
    assert "您还没有使用网证小程序" in text
    assert len(emulator.calls_to(USER_INFO)) == 1


def test_swapped_openids_never_reach_another_citizens_data(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    alice_mp = mini_program_user(wechat_app, emulator, "alice", credential=True)
    mini_program_user(wechat_app, emulator, "bob", credential=False)
    bob_oa = follow(wechat_client, oa_sender, emulator, "bob")
    # Alice's mini-program openid used as an official-account sender: not a follower of ours.
    text = say(wechat_client, oa_sender, alice_mp, "text", Content="状态")
    assert "尚未与网证小程序关联" in text
    assert "网证状态：有效" not in text and "Phone of alice" not in text
    # Bob sees his own (empty) state, not Alice's.
    assert "没有有效的网证" in say(wechat_client, oa_sender, bob_oa, "text", Content="状态")


def test_lost_only_links_to_the_mini_program(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="掛失")
    assert 'data-miniprogram-path="pages/lost/index"' in text
    with database(wechat_app).transaction() as session:
        assert session.scalars(select(Credential.status)).one() == "active"


def test_user_input_is_never_echoed(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    for content in ("<a href='x'>状态</a>", "状态]]><x>", "状态 please"):
        assert say(wechat_client, oa_sender, oa_openid, "text", Content=content) == ""


def test_unsubscribe_keeps_the_link_but_marks_the_follower(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    assert say(wechat_client, oa_sender, oa_openid, "event", Event="unsubscribe") == ""
    with database(wechat_app).transaction() as session:
        follower = session.scalars(select(Follower)).one()
        assert not follower.subscribed
        assert follower.unionid == emulator.unionid_for("alice")


def test_menu_apply_round_trip(wechat_app: Any, emulator: Emulator) -> None:
    result = wechat_app.test_cli_runner().invoke(args=["wechat", "menu", "apply"])
    assert result.exit_code == 0, result.output
    assert "menu version 1 applied: 我的网证, 核验记录, 更多" in result.output
    stored = emulator.official.menus[OA_APP_ID]  # set with the official account's token
    assert DEV_APP_ID not in emulator.official.menus
    first, second, more = stored["button"]
    assert (first["type"], first["appid"], first["pagepath"]) == (
        "miniprogram",
        DEV_APP_ID,
        "pages/pass/index",
    )
    assert (second["type"], second["key"]) == ("click", "WZ_HISTORY")
    assert [sub["name"] for sub in more["sub_button"]] == ["网证状态", "身份证挂失", "帮助"]


def test_menu_apply_reports_a_refused_menu(
    wechat_app: Any, emulator: Emulator, tmp_path: Any
) -> None:
    too_many = tmp_path / "menu.json"
    button = {"type": "click", "name": "x", "key": "WZ_HELP"}
    too_many.write_text(json.dumps({"version": 2, "button": [button] * 4}))
    result = wechat_app.test_cli_runner().invoke(
        args=["wechat", "menu", "apply", "--file", str(too_many)]
    )
    assert result.exit_code != 0
    assert "errcode 40016" in result.output
    assert OA_APP_ID not in emulator.official.menus
