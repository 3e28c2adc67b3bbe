"""The WeChat card pack (卡包): a MEMBER_CARD class, cardExt for ``wx.addCard``, revocation.

Invariants:
- Two classes: light credentials use ``WANGZHENG_WECHAT_CARD_ID`` (grey, the black-and-white
  pass), upgraded ones ``WANGZHENG_WECHAT_CARD_ID_UPGRADED`` (colour). A card code is always
  signed, activated and made unavailable under the class of its credential's level.
- A card code is an opaque random handle of 32 hex characters
  (:func:`bot.credentials.service.new_card_code`); it is never derived from personal data.
- ``cardExt.signature`` = sha1 of the sorted [api_ticket, timestamp, card_id, code, openid,
  nonce_str], with the shared ``wx_card`` api_ticket.
- Revocation marks one user's code unavailable (``card/code/unavailable``), after commit, via
  the outbox. ``card/delete`` is never used: it deletes the whole class for everybody.
- Only the bound device of an active credential gets its cardExt (:func:`current_card`).
- The whole feature is off unless ``WANGZHENG_WECHAT_CARD_ENABLED``; the mini-program pass page
  works without it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.credentials.errors import DeviceNotBound, NoActiveCredential
from bot.credentials.service import active_credential
from bot.crypto import same
from bot.vocab import Level
from bot.wechat import outbox
from bot.wechat.client import WeChatApi
from bot.wechat.config import WeChatConfig
from bot.wechat.errors import CardPackDisabled, WeChatError
from bot.wechat.webhook import wechat_signature
from storage.db import Database

log = logging.getLogger(__name__)

INVALID_SERIAL_CODE = 40056  # the code is unknown or already unavailable: nothing left to do


@dataclass(frozen=True)
class CardExt:
    """What the mini-program passes to ``wx.addCard``: ``cardList=[{cardId, cardExt}]``."""

    card_id: str
    card_ext: str  # a JSON string, as wx.addCard expects


def member_card_class(
    config: WeChatConfig,
    *,
    brand_name: str,
    title: str,
    color: str,
    notice: str,
    logo_url: str,
    mp_username: str,
) -> dict[str, Any]:
    """The ``card/create`` body for our MEMBER_CARD class."""
    cell = {
        "name": "出示网证",
        "tips": "打开小程序",
        "url": "https://weixin.qq.com",
        "app_brand_user_name": mp_username,
        "app_brand_pass": config.pass_page,
    }
    base_info = {
        "logo_url": logo_url,
        "brand_name": brand_name,
        "code_type": "CODE_TYPE_QRCODE",
        "title": title,
        "color": color,
        "notice": notice,
        "description": "网证是居民身份证的电子凭证，出示时请打开小程序。",
        "sku": {"quantity": 100000000},
        "date_info": {"type": "DATE_TYPE_PERMANENT"},
        "use_custom_code": True,
        "bind_openid": True,
        "get_limit": 1,
        "can_share": False,
        "can_give_friend": False,
    }
    return {
        "card": {
            "card_type": "MEMBER_CARD",
            "member_card": {
                "base_info": base_info,
                "prerogative": "凭网证在支持的商户核验身份",
                "supply_bonus": False,
                "supply_balance": False,
                "custom_cell1": cell,
            },
        }
    }


def create_card_class(api: WeChatApi, card_class: dict[str, Any]) -> str:
    """Create the class; returns its ``card_id`` (set it as ``WANGZHENG_WECHAT_CARD_ID``)."""
    return str(api.call(lambda client: client.card.create(card_class), "card.create"))


def card_ext_for(
    api: WeChatApi,
    *,
    openid: str,
    code: str,
    level: str = Level.LIGHT,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> CardExt:
    """The signed cardExt for adding card ``code`` of a ``level`` credential to ``openid``'s
    card pack (``openid`` "" names nobody: see :func:`card_openid`). ``api`` is the official
    account's client: the card classes are its own, and so is the api_ticket that signs."""
    config = api.config
    card_id = config.card_class(level)
    if not config.card_enabled or not card_id:
        raise CardPackDisabled()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce_str or secrets.token_hex(16)
    signature = wechat_signature(api.card_api_ticket(), stamp, card_id, code, openid, nonce)
    ext = {"code": code, "openid": openid, "timestamp": stamp, "nonce_str": nonce}
    if not openid:
        del ext["openid"]
    ext["signature"] = signature
    return CardExt(card_id, json.dumps(ext, separators=(",", ":")))


def card_openid(config: WeChatConfig, openid: str) -> str:
    """The openid a cardExt may name: the citizen's when one app id serves both accounts, else
    none. A cardExt's openid is the card-owning official account's, which differs from the
    mini-program's in a two-account deployment; the code is then bound by our service alone
    (only the holder's bound device is given the cardExt)."""
    return openid if config.single_account else ""


def card_for(api: WeChatApi, openid: str, code: str | None, level: str = Level.LIGHT) -> CardExt:
    """The signed cardExt of credential card ``code``; raises when the card pack is off or down."""
    if not code or not api.config.card_enabled:
        raise CardPackDisabled()
    return card_ext_for(api, openid=openid, code=code, level=level)


def card_for_or_none(
    api: WeChatApi, openid: str, code: str | None, level: str = Level.LIGHT
) -> CardExt | None:
    """:func:`card_for`, or None when it cannot be had now (the pass works without it)."""
    if not code:
        return None
    try:
        return card_for(api, openid, code, level)
    except WeChatError as exc:
        log.warning("card ext unavailable after issuance: %s", exc.code)
        return None


def current_card(
    database: Database, api: WeChatApi, openid: str, device_id: str, *, named: str
) -> CardExt:
    """The cardExt of ``openid``'s active credential, for its bound device only, naming
    ``named`` (:func:`card_openid`).

    The credential is read in its own short transaction; WeChat (the api_ticket) is called
    after it, so no transaction waits on WeChat.
    """
    with database.transaction() as session:
        credential = active_credential(session, openid)
        if credential is None:
            raise NoActiveCredential()
        if not same(credential.device_id, device_id):
            raise DeviceNotBound()
        code, level = credential.card_code, credential.level
    return card_for(api, named, code, level)


def activate_member_card(
    api: WeChatApi, *, code: str, membership_number: str, level: str = Level.LIGHT
) -> None:
    """Activate the user's card (``card/membercard/activate``); the number is opaque too."""
    card_id = api.config.card_class(level)
    api.call(
        lambda client: client.card.activate_membercard(membership_number, code, card_id=card_id),
        "card.activate",
    )


def make_card_unavailable(
    session: Session, *, code: str, reason: str = "revoked", level: str = Level.LIGHT
) -> bool:
    """Queue ``card/code/unavailable`` for ``code`` in the caller's transaction (sent after it).

    Returns False (nothing queued) for an empty code, so callers can pass a credential's
    optional card code unconditionally. ``level`` names the class the code belongs to.
    """
    if not code:
        return False
    payload = {"code": code, "reason": reason[:32], "level": str(level)}
    outbox.enqueue(session, "card_unavailable", payload)
    return True


def card_unavailable_deliverer(oa_api: Callable[[], WeChatApi]) -> outbox.Deliver:
    """The deliverer of queued revocations (the outbox's ``card_unavailable`` kind), through the
    official account's client, which owns the card classes."""

    def deliver(dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]) -> str:
        config = dispatcher.config
        card_id = config.card_class(str(payload.get("level", Level.LIGHT)))
        if not config.card_enabled or not card_id:
            raise outbox.Dropped("card pack disabled")
        code = str(payload["code"])
        try:
            oa_api().call(
                lambda client: client.card.invalid_code(code, card_id), "card.unavailable"
            )
        except WeChatError as exc:
            if exc.details.get("errcode") != INVALID_SERIAL_CODE:
                raise
        return "sent"

    return deliver
