"""The official account (公众号) side of the emulator: followers, ``user/info``, menus, templates.

Invariants:
- A follower exists per (app id, openid); the same person has a different openid in each app
  but one UnionID, derived from their name under the Open Platform key shared by every app the
  emulator serves (as WeChat does for apps bound to one Open Platform account).
- ``cgi-bin/user/info`` answers only the app that owns the openid: another app's openid is
  ``40003 invalid openid``, like WeChat. A user who unfollowed answers ``subscribe: 0`` and no
  UnionID.
- ``menu/create`` checks WeChat's shape rules (at most 3 buttons, 5 sub-buttons, names of at
  most 16/60 bytes, a key for ``click``, an appid and pagepath for ``miniprogram``) before it
  replaces the menu; ``menu/get`` returns exactly what was stored.
- ``message/template/send`` refuses a user who does not follow (43004) and records the rest.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

OK = {"errcode": 0, "errmsg": "ok"}
_ERRORS = {
    40003: "invalid openid",
    40016: "invalid button size",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40037: "invalid template_id",
    43004: "require subscribe",
    46003: "menu no exist",
    47001: "data format error",
}
BUTTON_TYPES = ("click", "view", "miniprogram")


def oa_error(errcode: int) -> dict[str, Any]:
    """WeChat's error body."""
    return {"errcode": errcode, "errmsg": _ERRORS.get(errcode, "error")}


@dataclass
class Follower:
    """One person following one official account."""

    name: str
    subscribed: bool = True


@dataclass
class OfficialAccounts:
    """Followers, menus and template messages of every app the emulator serves. Thread-safe."""

    followers: dict[tuple[str, str], Follower] = field(default_factory=dict)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    template_messages: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, app_id: str, openid: str, name: str) -> None:
        """``name`` follows the account ``app_id`` under ``openid``."""
        with self._lock:
            self.followers[(app_id, openid)] = Follower(name)

    def unfollow(self, app_id: str, openid: str) -> None:
        """The follower stops following (WeChat keeps the openid)."""
        with self._lock:
            follower = self.followers.get((app_id, openid))
            if follower:
                follower.subscribed = False

    def user_info(self, app_id: str, openid: str, unionid_of: Any) -> dict[str, Any]:
        """``cgi-bin/user/info`` for ``openid`` of ``app_id``."""
        with self._lock:
            follower = self.followers.get((app_id, openid))
        if follower is None:
            return oa_error(40003)
        if not follower.subscribed:
            return {"subscribe": 0, "openid": openid}
        return {
            "subscribe": 1,
            "openid": openid,
            "language": "zh_CN",
            "subscribe_time": 1700000000,
            "unionid": unionid_of(follower.name),
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": "ADD_SCENE_QR_CODE",
        }

    def create_menu(self, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``menu/create``: validate, then replace the app's menu."""
        problem = _menu_problem(body)
        if problem:
            return oa_error(problem)
        with self._lock:
            self.menus[app_id] = {"button": body["button"]}
        return dict(OK)

    def get_menu(self, app_id: str) -> dict[str, Any]:
        """``menu/get``: the stored menu, or 46003."""
        with self._lock:
            menu = self.menus.get(app_id)
        return {"menu": menu} if menu else oa_error(46003)

    def send_template(self, app_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``message/template/send``: only to a current follower of ``app_id``."""
        touser, template = str(body.get("touser", "")), body.get("template_id")
        if not template or not isinstance(body.get("data"), dict):
            return oa_error(40037 if not template else 47001)
        with self._lock:
            follower = self.followers.get((app_id, touser))
            if follower is None or not follower.subscribed:
                return oa_error(43004)
            self.template_messages.append({**body, "app_id": app_id})
        return {**OK, "msgid": secrets.randbelow(10**12)}


def _menu_problem(body: dict[str, Any]) -> int:
    """The errcode WeChat gives a malformed menu, or 0."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016
    for button in buttons:
        if not isinstance(button, dict):
            return 47001
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or len(subs) > 5:
                return 40016
            for sub in subs:
                problem = _button_problem(sub, 60)
                if problem:
                    return problem
            if len(str(button.get("name", "")).encode()) > 16:
                return 40018
            continue
        problem = _button_problem(button, 16)
        if problem:
            return problem
    return 0


def _button_problem(button: Any, max_name_bytes: int) -> int:
    """The errcode of one leaf button, or 0."""
    if not isinstance(button, dict):
        return 47001
    name = str(button.get("name", ""))
    if not name or len(name.encode()) > max_name_bytes:
        return 40018
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        return 47001
    if kind == "click" and not 1 <= len(str(button.get("key", "")).encode()) <= 128:
        return 40019
    if kind == "view" and not str(button.get("url", "")).startswith(("http://", "https://")):
        return 47001
    if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
        return 47001
    return 0


def _app(emulator: Any, params: dict[str, str]) -> str:
    """The app the call's access token belongs to (the dispatcher already checked the token)."""
    return str(emulator.token_app(params.get("access_token")))


# path -> (handler(emulator, params, body), needs an access token); merged into the server's.
OFFICIAL_ROUTES: dict[str, tuple[Any, bool]] = {
    "/cgi-bin/user/info": (
        lambda emulator, params, _: emulator.official.user_info(
            _app(emulator, params), params.get("openid", ""), emulator.unionid_for
        ),
        True,
    ),
    "/cgi-bin/menu/create": (
        lambda emulator, params, body: emulator.official.create_menu(_app(emulator, params), body),
        True,
    ),
    "/cgi-bin/menu/get": (
        lambda emulator, params, _: emulator.official.get_menu(_app(emulator, params)),
        True,
    ),
    "/cgi-bin/message/template/send": (
        lambda emulator, params, body: emulator.official.send_template(
            _app(emulator, params), body
        ),
        True,
    ),
}
