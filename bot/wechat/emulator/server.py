"""A local stand-in for ``api.weixin.qq.com``, speaking the same protocol (development and tests).

Invariants:
- Same URLs, query parameters, JSON shapes and errcodes as WeChat for the calls we make; every
  call that needs one checks ``access_token`` (41001 missing, 40001 invalid, 42001 expired).
- Access tokens are stateless (an HMAC over their issue time and app id under that app's
  secret), so several gunicorn workers, each with its own emulator instance, accept each other's
  tokens, and a token names the app it was issued to.
- It serves one mini-program app and, optionally, more apps (an official account) bound to the
  same Open Platform account: a person has one openid per app and one UnionID across them
  (:meth:`Emulator.openid_for`, :meth:`Emulator.unionid_for`).
- Every call is recorded in :attr:`Emulator.calls`; :meth:`Emulator.fail` and
  :meth:`Emulator.delay` script errcodes and slow answers for the next calls to a path.
- ``dev:<name>`` login codes always map to the same openid for ``<name>``; it is never mounted
  or started in production (see :mod:`bot.wechat.app`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from bot.wechat.emulator.cards import CardPack
from bot.wechat.emulator.face import FaceAuthority
from bot.wechat.emulator.official import OFFICIAL_ROUTES, OfficialAccounts
from bot.wechat.emulator.soter import SoterAuthority

TOKEN_TTL_S = 7200
OK = {"errcode": 0, "errmsg": "ok"}
_ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid",
    40029: "invalid code",
    40056: "invalid serial code",
    40073: "invalid card id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    42001: "access_token expired",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
}


def error(errcode: int) -> dict[str, Any]:
    """WeChat's error body."""
    return {"errcode": errcode, "errmsg": _ERRMSG.get(errcode, "error")}


@dataclass
class Call:
    """One recorded request."""

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None


class Emulator:
    """The WSGI app. Thread-safe."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        known_card_ids: Iterable[str] = (),
        *,
        other_apps: Mapping[str, str] | None = None,
        card_owner: str | None = None,
        soter_key_dir: Path | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        # Every app id this Open Platform account owns, with its secret.
        self.apps: dict[str, str] = {**(other_apps or {}), app_id: app_secret}
        self.calls: list[Call] = []
        # The card pack; its classes known up front belong to ``card_owner`` (the official
        # account in a two-account deployment), by default to ``app_id``.
        self.card_pack = CardPack(known_card_ids, card_owner or app_id)
        self.card_classes = self.card_pack.classes
        self.cards = self.card_pack.cards
        self.messages: list[dict[str, Any]] = []
        self._single_use_codes: dict[str, str] = {}
        self._used_codes: set[str] = set()
        self._script: dict[str, list[tuple[str, float]]] = {}
        self._revoked_before = 0
        self._lock = threading.Lock()
        self.face = FaceAuthority()  # 人脸核身: its own authority record and sessions
        self.official = OfficialAccounts()  # followers, menus and template messages
        # A SOTER key per openid, standing in for the phone's TEE (shared by the development
        # server's workers through ``soter_key_dir``).
        self.soter = SoterAuthority(soter_key_dir)

    # -- scripting (tests) ----------------------------------------------------------------
    def fail(self, path: str, errcode: int, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``path`` with ``errcode``."""
        with self._lock:
            self._script.setdefault(path, []).extend([("fail", errcode)] * times)

    def delay(self, path: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` calls to ``path`` wait ``seconds`` before answering."""
        with self._lock:
            self._script.setdefault(path, []).extend([("delay", seconds)] * times)

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001 (as after WeChat's 2 hours)."""
        with self._lock:
            self._revoked_before = time.time_ns()

    def issue_code(self, name: str) -> str:
        """A single-use login code for user ``name`` (like ``wx.login`` would return)."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._single_use_codes[code] = name
        return code

    def add_card(self, openid: str, card_id: str, code: str) -> None:
        """What ``wx.addCard`` does on WeChat's side: the user now holds card ``code``."""
        self.card_pack.add(openid, card_id, code)

    def add_card_with_ext(self, openid: str, card_id: str, card_ext: str) -> str:
        """``wx.addCard`` with our cardExt, checked (:meth:`CardPack.add_with_ext`)."""
        return self.card_pack.add_with_ext(openid, card_id, card_ext)

    def encrypt_code(self, code: str) -> str:
        """The ``encrypt_code`` WeChat would hand to a card's web page."""
        return base64.urlsafe_b64encode(code.encode()).decode()

    def calls_to(self, path: str) -> list[Call]:
        """The recorded calls to one path."""
        with self._lock:
            return [call for call in self.calls if call.path == path]

    def openid_for(self, name: str, app_id: str | None = None) -> str:
        """The stable openid of development user ``name`` in ``app_id`` (the mini-program's by
        default): different in every app."""
        secret = self.apps[app_id or self.app_id]
        digest = hmac.new(secret.encode(), b"openid:" + name.encode(), hashlib.sha256)
        return "o" + base64.urlsafe_b64encode(digest.digest()[:20]).decode().rstrip("=")

    def unionid_for(self, name: str) -> str:
        """The UnionID of ``name``: the same in every app of this Open Platform account."""
        digest = hmac.new(self.app_secret.encode(), b"unionid:" + name.encode(), hashlib.sha256)
        return "u" + base64.urlsafe_b64encode(digest.digest()[:20]).decode().rstrip("=")

    def follow(self, name: str, app_id: str) -> str:
        """``name`` follows the official account ``app_id``; returns their openid there."""
        openid = self.openid_for(name, app_id)
        self.official.follow(app_id, openid, name)
        return openid

    # -- tokens ---------------------------------------------------------------------------
    def _mac(self, issued: str, app_id: str) -> str:
        secret = self.apps[app_id].encode()
        return hmac.new(secret, f"{issued}.{app_id}".encode(), hashlib.sha256).hexdigest()[:40]

    def _new_token(self, app_id: str) -> str:
        issued = str(time.time_ns())
        return f"EMU{issued}.{app_id}.{self._mac(issued, app_id)}"

    def token_app(self, token: str | None) -> str:
        """The app id an access token was issued to ("" when it is not a valid token)."""
        issued, _, rest = (token or "").removeprefix("EMU").partition(".")
        app_id, _, mac = rest.partition(".")
        if not issued.isdigit() or app_id not in self.apps:
            return ""
        return app_id if hmac.compare_digest(mac, self._mac(issued, app_id)) else ""

    def _token_error(self, token: str | None) -> int:
        if not token:
            return 41001
        if not self.token_app(token):
            return 40001
        issued = token.removeprefix("EMU").partition(".")[0]
        expired = int(issued) < self._revoked_before or (
            time.time_ns() - int(issued) > TOKEN_TTL_S * 10**9
        )
        return 42001 if expired else 0

    # -- WSGI -----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Serve one request."""
        request = Request(environ)
        body = self.dispatch(request)
        return Response(json.dumps(body, ensure_ascii=False), mimetype="application/json")(
            environ, start_response
        )

    def dispatch(self, request: Request) -> dict[str, Any]:
        """Record, apply the script, check the token, and route."""
        path = "/" + request.path.strip("/")
        params = dict(request.args.items())
        body: dict[str, Any] | None = None
        if request.method == "POST":
            try:
                loaded = json.loads(request.get_data() or b"null")
            except ValueError:
                loaded = None
            body = loaded if isinstance(loaded, dict) else None
        with self._lock:
            self.calls.append(Call(request.method, path, params, body))
            script = self._script.get(path) or []
            step = script.pop(0) if script else None
        if step and step[0] == "delay":
            time.sleep(step[1])
        elif step:
            return error(int(step[1]))
        route = _ROUTES.get(path)
        if route is None:
            return {"errcode": 404, "errmsg": "api not found"}
        handler, needs_token = route
        if needs_token:
            problem = self._token_error(params.get("access_token"))
            if problem:
                return error(problem)
        if request.method == "POST" and body is None:
            return error(44002 if not request.get_data() else 47001)
        answer: dict[str, Any] = handler(self, params, body or {})
        return answer

    # -- endpoints ------------------------------------------------------------------------
    def _app_error(self, params: dict[str, str]) -> int:
        """40013 for an unknown appid, 40125 for a wrong secret, else 0."""
        app_id = params.get("appid", "")
        if app_id not in self.apps:
            return 40013
        return 0 if hmac.compare_digest(params.get("secret", ""), self.apps[app_id]) else 40125

    def _token(self, params: dict[str, str], _: dict[str, Any]) -> dict[str, Any]:
        if params.get("grant_type") != "client_credential":
            return error(40013)
        if self._app_error(params):
            return error(self._app_error(params))
        token = self._new_token(params["appid"])
        return {"access_token": token, "expires_in": TOKEN_TTL_S}

    def _jscode2session(self, params: dict[str, str], _: dict[str, Any]) -> dict[str, Any]:
        if self._app_error(params):
            return error(self._app_error(params))
        code = params.get("js_code", "")
        with self._lock:
            name = self._single_use_codes.pop(code, None)
            reused = name is None and code in self._used_codes
            if name is not None:
                self._used_codes.add(code)
        if name is None and code.startswith("dev:") and 4 < len(code) <= 68:
            name = code[4:]
        if name is None:
            return error(40163 if reused else 40029)
        openid = self.openid_for(name, params["appid"])
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        return {"openid": openid, "session_key": key, "unionid": self.unionid_for(name)}

    def _getticket(self, params: dict[str, str], _: dict[str, Any]) -> dict[str, Any]:
        if params.get("type") not in ("wx_card", "jsapi"):
            return error(40097)
        ticket = "emuticket" + secrets.token_hex(16)
        if params["type"] == "wx_card":
            self.card_pack.record_ticket(ticket, self.token_app(params.get("access_token")))
        return {**OK, "ticket": ticket, "expires_in": TOKEN_TTL_S}

    def _card_create(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        card = body.get("card")
        if not isinstance(card, dict) or card.get("card_type") != "MEMBER_CARD":
            return error(47001)
        member = card.get("member_card")
        if not isinstance(member, dict) or not isinstance(member.get("base_info"), dict):
            return error(47001)
        card_id = "p" + secrets.token_urlsafe(20)
        self.card_pack.create(self.token_app(params.get("access_token")), card_id, card)
        return {**OK, "card_id": card_id}

    def _cards(self, operation: str) -> Any:
        """A route handler running ``CardPack.<operation>`` as the calling app."""

        def handle(params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
            app_id = self.token_app(params.get("access_token"))
            answer = getattr(self.card_pack, operation)(app_id, body)
            return error(answer) if isinstance(answer, int) else answer

        return handle

    def _subscribe_send(self, _: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("touser") or not body.get("template_id") or "data" not in body:
            return error(47003)
        with self._lock:
            self.messages.append(body)
        return dict(OK)


_ROUTES: dict[str, tuple[Any, bool]] = {
    "/cgi-bin/token": (Emulator._token, False),
    "/sns/jscode2session": (Emulator._jscode2session, False),
    "/cgi-bin/ticket/getticket": (Emulator._getticket, True),
    "/card/create": (Emulator._card_create, True),
    "/card/code/unavailable": (lambda e, p, b: e._cards("unavailable")(p, b), True),
    "/card/code/decrypt": (lambda e, p, b: e._cards("decrypt")(p, b), True),
    "/card/membercard/activate": (lambda e, p, b: e._cards("activate")(p, b), True),
    "/card/membercard/updateuser": (lambda e, p, b: e._cards("update_user")(p, b), True),
    "/cgi-bin/message/subscribe/send": (Emulator._subscribe_send, True),
    "/cityservice/face/identify/getverifyid": (
        lambda emulator, _, body: emulator.face.get_verify_id(body),
        True,
    ),
    "/cityservice/face/identify/queryverifyinfo": (
        lambda emulator, _, body: emulator.face.query_verify_info(body),
        True,
    ),
    "/cgi-bin/soter/verify_signature": (
        lambda emulator, _, body: emulator.soter.verify_signature(body),
        True,
    ),
    **OFFICIAL_ROUTES,
}
