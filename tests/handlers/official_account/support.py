"""Two WeChat accounts for the chat-bot and message tests: the mini-program and a separate
official account bound to the same Open Platform account (one UnionID per person).

The fixtures are in this folder's ``conftest.py``; the helpers and constants are here.
"""

from __future__ import annotations

from typing import Any

from wechatpy.crypto import PrpCrypto

import bot.wechat.webhook as webhook
from bot.devices.sessions import open_session
from bot.extensions import database
from bot.wechat.config import DEV_ENCODING_AES_KEY
from bot.wechat.emulator import WebhookSender, event_xml
from bot.wechat.emulator.server import Emulator
from tests.registry_factories import add_record, issue

OA_APP_ID = "wx0de7e1000000emu2"
OA_SECRET = "wangzheng-development-official-account-secret"
USER_INFO = "/cgi-bin/user/info"


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
