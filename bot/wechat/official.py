"""Calls to the official account's API: a follower's UnionID (``user/info``) and the menu.

Invariants:
- With two app ids these calls use the official account's own access token (its app id and
  secret), never the mini-program's; with one app id both are the same client.
- A follower's UnionID is requested at most once while a request is pending (one outbox row per
  openid), and fetched after commit, never inside WeChat's 5-second reply window.
- The menu is applied from a versioned file and read back with ``menu/get``: the command
  succeeds only when every field the file sets is stored as sent (WeChat may add fields).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.wechat import outbox
from bot.wechat.client import WeChatApi
from bot.wechat.config import WeChatConfig
from bot.wechat.errors import WeChatError
from bot.wechat.followers import link_unionid
from storage.models.base import utcnow
from storage.models.outbox import OutboxMessage

FOLLOWER_INFO = outbox.FOLLOWER_INFO
MENU_FILE = Path(__file__).with_name("menu.json")
# Not a follower (40003) or the account is not bound to an Open Platform account: retrying
# cannot produce a UnionID.
NOT_RETRYABLE = {40003, 40013}


def request_unionid(session: Session, config: WeChatConfig, openid: str) -> bool:
    """Queue a ``user/info`` call for a follower whose UnionID is unknown; True when queued."""
    if config.single_account:
        return False
    payload = json.dumps({"openid": openid}, ensure_ascii=False)
    pending = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.kind == FOLLOWER_INFO,
            OutboxMessage.status == "pending",
            OutboxMessage.payload == payload,
        )
    ).first()
    if pending is not None:
        return False
    outbox.enqueue(session, FOLLOWER_INFO, {"openid": openid})
    return True


def follower_info_deliverer(oa_api: Callable[[], WeChatApi]) -> outbox.Deliver:
    """The outbox deliverer of ``follower_info`` rows, calling the official account's API."""

    def deliver(dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]) -> str:
        return _deliver_follower_info(dispatcher, oa_api(), payload)

    return deliver


def _deliver_follower_info(
    dispatcher: outbox.OutboxDispatcher, oa_api: WeChatApi, payload: dict[str, Any]
) -> str:
    """Fetch a follower's UnionID and link them."""
    config, openid = dispatcher.config, str(payload["openid"])
    try:
        info = oa_api.call(lambda client: client.user.get(openid), "user.info")
    except WeChatError as exc:
        if exc.details.get("errcode") in NOT_RETRYABLE:
            raise outbox.Dropped(f"errcode {exc.details['errcode']}") from exc
        raise
    unionid = info.get("unionid") if isinstance(info, dict) else None
    if not isinstance(unionid, str) or not unionid:
        raise outbox.Dropped("WeChat gave no unionid (not following, or no Open Platform)")
    with dispatcher.database.transaction() as session:
        link_unionid(session, config.oa_app_id, openid, unionid, now=utcnow())
    return "sent"


def menu_body(config: WeChatConfig, path: Path = MENU_FILE) -> dict[str, Any]:
    """The ``menu/create`` body from the versioned menu file, with this deployment's
    mini-program app id and pages filled in."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    pages = {"pass": config.pass_page, "lost": config.lost_page}

    def fill(button: dict[str, Any]) -> dict[str, Any]:
        filled = {key: value for key, value in button.items() if key != "page"}
        if button.get("type") == "miniprogram":
            filled["appid"] = config.app_id
            filled["pagepath"] = pages[button["page"]]
        if "sub_button" in button:
            filled["sub_button"] = [fill(sub) for sub in button["sub_button"]]
        return filled

    return {"button": [fill(button) for button in spec["button"]]}


def menu_version(path: Path = MENU_FILE) -> int:
    """The version number the menu file declares."""
    return int(json.loads(path.read_text(encoding="utf-8"))["version"])


def apply_menu(api: WeChatApi, body: dict[str, Any]) -> dict[str, Any]:
    """``menu/create`` then ``menu/get``; returns what WeChat stored (raises when it differs)."""
    api.call(lambda client: client.menu.create(body), "menu.create")
    stored = api.call(lambda client: client.menu.get(), "menu.get")
    menu = stored.get("menu") if isinstance(stored, dict) else None
    if not isinstance(menu, dict) or not _holds(menu, body):
        raise WeChatError("WeChat stored a different menu than the one sent.")
    return menu


def _holds(stored: Any, sent: Any) -> bool:
    """True when ``stored`` has every value of ``sent`` (recursively; lists in order)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(
            _holds(stored.get(key), value) for key, value in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(_holds(got, want) for got, want in zip(stored, sent, strict=True))
        )
    return bool(stored == sent)
