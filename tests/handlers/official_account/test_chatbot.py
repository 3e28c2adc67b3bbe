"""The official account as a chat-bot, with its own app id linked to the mini-program by UnionID.

Every message goes through the encrypted webhook exactly as WeChat sends it; the UnionID comes
from the emulator's ``cgi-bin/user/info`` over real HTTP, fetched by the outbox after commit.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from bot.devices.erasure import erase_account
from bot.extensions import database
from bot.wechat.config import DEV_APP_ID
from bot.wechat.emulator import WebhookSender
from bot.wechat.emulator.server import Emulator
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.follower import Follower
from tests.handlers.official_account.support import (
    OA_APP_ID,
    USER_INFO,
    follow,
    mini_program_user,
    say,
)
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify


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


def test_erasing_the_account_unlinks_the_follower(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    openid = mini_program_user(wechat_app, emulator, "alice", credential=True)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    assert "网证状态：有效" in say(wechat_client, oa_sender, oa_openid, "text", Content="状态")
    with database(wechat_app).transaction() as session:
        citizen_id = session.scalars(select(Citizen.id).where(Citizen.openid == openid)).one()
        erase_account(session, citizen_id)
    with database(wechat_app).transaction() as session:
        follower = session.scalars(select(Follower)).one()
        assert (follower.unionid, follower.linked_at, follower.subscribed) == (None, None, True)
    # Nothing of Alice's is left to answer from; the UnionID is asked for again, and even once
    # WeChat gives it back there is no account behind it.
    text = say(wechat_client, oa_sender, oa_openid, "text", Content="状态")
    assert "尚未与网证小程序关联" in text and "网证状态" not in text
    again = say(wechat_client, oa_sender, oa_openid, "text", Content="状态")
    assert "您还没有使用网证小程序" in again
