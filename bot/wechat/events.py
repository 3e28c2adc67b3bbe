"""What we answer to each WeChat callback message, and which card events we record.

Invariants:
- Handling is fast and local (one small insert at most): WeChat gives a callback 5 seconds.
  Anything that calls WeChat back goes through the outbox after commit.
- Card events are recorded once per WeChat event (``wechat_event_key`` is unique), so WeChat's
  redeliveries do not duplicate rows.
- Replies are built from fixed texts; user content is never echoed back.
- Unknown messages and events get ``None``, which the handler turns into ``success``.
- Commands and menu clicks answer from the data of the citizen the follower is linked to
  (:mod:`bot.wechat.followers`); an unlinked follower is told so and their UnionID is fetched
  through the outbox.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.wechat.commands import (
    Command,
    mini_program_link,
    parse_command,
    parse_menu_key,
    reply_to_command,
)
from bot.wechat.config import WeChatConfig
from bot.wechat.followers import record_follow
from bot.wechat.official import request_unionid
from storage.models.card_event import CardEvent
from storage.models.credential import Credential

CARD_EVENTS = ("user_get_card", "user_del_card", "user_view_card", "update_member_card")
_CARD_DETAIL_FIELDS = (
    "IsGiveByFriend",
    "FriendUserName",
    "OuterStr",
    "OuterId",
    "IsRestoreMemberCard",
    "ModifyBonus",
    "ModifyBalance",
)


@dataclass(frozen=True)
class TextReply:
    """A passive text reply to ``to_user``."""

    to_user: str
    from_user: str
    content: str

    def render(self) -> str:
        """WeChat's reply XML."""
        return (
            "<xml>"
            f"<ToUserName>{_cdata(self.to_user)}</ToUserName>"
            f"<FromUserName>{_cdata(self.from_user)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(self.content)}</Content>"
            "</xml>"
        )


def _cdata(text: str) -> str:
    """A CDATA section that stays one even if ``text`` contains ``]]>``."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def welcome_text(config: WeChatConfig) -> str:
    """The reply to a new follower."""
    return (
        "欢迎使用网证。网证是您身份证的电子凭证，保存在微信小程序中。\n"
        f"{mini_program_link(config, '打开网证')}\n"
        "发送“帮助”查看更多。"
    )


def help_text(config: WeChatConfig) -> str:
    """The reply to 网证 / 網證 / help."""
    return (
        "网证使用说明：\n"
        "1. 打开小程序，按提示核验身份证并完成人脸比对，即可领取网证。\n"
        "2. 需要出示时，在小程序中打开网证，商户扫码即可核验，二维码一分钟内有效。\n"
        "3. 更换手机登录后，旧手机上的网证会自动失效。\n"
        f"{mini_program_link(config, '打开网证')}"
    )


def record_card_event(session: Session, message: dict[str, str]) -> CardEvent | None:
    """Store a card event once; returns the row, or None for a redelivery."""
    key = ":".join(
        (
            message.get("FromUserName", ""),
            message.get("CreateTime", ""),
            message.get("Event", ""),
            message.get("UserCardCode", ""),
        )
    )[:200]
    if session.scalars(select(CardEvent.id).where(CardEvent.wechat_event_key == key)).first():
        return None
    detail = {name: message[name] for name in _CARD_DETAIL_FIELDS if name in message}
    code = message.get("UserCardCode", "")[:64]
    credential_id = (
        session.scalar(select(Credential.id).where(Credential.card_code == code)) if code else None
    )
    row = CardEvent(
        wechat_event_key=key,
        event=message.get("Event", ""),
        openid=message.get("FromUserName", "")[:64],
        card_id=message.get("CardId", "")[:64],
        user_card_code=code,
        credential_id=credential_id,
        wechat_created_at=int(message.get("CreateTime") or 0),
        detail=json.dumps(detail, ensure_ascii=False),
    )
    try:
        with session.begin_nested():  # a concurrent redelivery may insert the same key first
            session.add(row)
    except IntegrityError:
        return None
    return row


def handle_message(
    session: Session, config: WeChatConfig, message: dict[str, str], *, now: dt.datetime
) -> TextReply | None:
    """The reply to one authenticated callback message (None means ``success``)."""
    msg_type = message.get("MsgType", "")
    user, account = message.get("FromUserName", "")[:64], message.get("ToUserName", "")
    command: Command | None = None
    if msg_type == "event":
        event = message.get("Event", "")
        if event in ("subscribe", "unsubscribe"):
            follower = record_follow(
                session, config.oa_app_id, user, subscribed=event == "subscribe", now=now
            )
            if event == "unsubscribe":
                return None
            request_unionid(session, config, follower.openid)
            return TextReply(user, account, welcome_text(config))
        if event in CARD_EVENTS:
            record_card_event(session, message)
        if event.upper() == "CLICK":
            command = parse_menu_key(message.get("EventKey", ""))
    elif msg_type == "text":
        command = parse_command(message.get("Content", ""))
    if command is None:
        return None
    if command == Command.HELP:
        return TextReply(user, account, help_text(config))
    return TextReply(user, account, reply_to_command(session, config, user, command))
