"""The WeChat API client: shared access token and card ticket, one retry on an expired token.

Invariants:
- The access token and the ``wx_card`` api_ticket live only in the short-lived store, shared by
  every worker, sealed under the data key (:func:`bot.crypto.seal`, purpose ``wechat:<name>``)
  like every other secret at rest; a value that does not unseal counts as absent. A refresh
  happens under ``store.lock``, and re-reads the store after taking the lock, so N concurrent
  callers cause one fetch.
- A call answered with 40001/42001 refreshes the token (only if nobody already did) and is
  retried exactly once; 45009 raises :class:`WeChatQuotaExceeded`; -1, HTTP errors and timeouts
  raise :class:`WeChatUnavailable`. No other module sees a wechatpy exception.
- wechatpy hard-codes ``https://api.weixin.qq.com``; a requests adapter on our session rewrites
  that host to ``api_base``, so the same code talks to WeChat or to the emulator.
- Tokens, secrets and session keys are never logged; only errcodes are.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot.crypto import DecryptionFailed, Keys, seal_text, unseal_text
from bot.wechat.config import REAL_API_BASE, WeChatConfig
from bot.wechat.errors import (
    InvalidCode,
    WeChatError,
    WeChatQuotaExceeded,
    WeChatRateLimited,
    WeChatUnavailable,
)
from storage.ephemeral import EphemeralStore, LockNotAcquired

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_EXPIRED = (40001, 42001)
LOCK_TTL_S = 20.0
TOKEN_MARGIN_S = 300  # refresh five minutes before WeChat's own expiry


class RewriteHostAdapter(HTTPAdapter):
    """Sends requests addressed to the real WeChat host to ``api_base`` instead."""

    def __init__(self, api_base: str) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        """Rewrite the URL, then send as usual."""
        url = request.url or ""
        if url.startswith(REAL_API_BASE + "/"):
            request.url = self.api_base + url[len(REAL_API_BASE) :]
        return super().send(request, *args, **kwargs)


def make_http_session(api_base: str) -> requests.Session:
    """A requests session that reaches ``api_base`` for every WeChat URL."""
    http = requests.Session()
    if api_base.rstrip("/") != REAL_API_BASE:
        http.mount(REAL_API_BASE + "/", RewriteHostAdapter(api_base))
        http.trust_env = False  # no proxy between us and a loopback emulator
    return http


def error_for(errcode: int, where: str) -> WeChatError:
    """Our error for a WeChat ``errcode`` (the message names the call, never its arguments)."""
    details = {"errcode": errcode}
    if errcode in (40029, 40163):
        return InvalidCode("The login code is invalid or already used.", details=details)
    if errcode == 45011:
        return WeChatRateLimited(details=details, headers={"Retry-After": "1"})
    if errcode == 45009:
        return WeChatQuotaExceeded(f"WeChat's daily quota for {where} is used up.", details=details)
    if errcode == -1:
        return WeChatUnavailable(details=details, headers={"Retry-After": "1"})
    return WeChatError(f"WeChat refused {where}.", details=details)


@dataclass(frozen=True)
class Code2Session:
    """What ``jscode2session`` returns; ``session_key`` is a secret."""

    openid: str
    session_key: str
    unionid: str | None


class _Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client, with the access token supplied by :class:`WeChatApi`."""

    def __init__(self, api: WeChatApi) -> None:
        super().__init__(
            api.config.app_id, api.config.app_secret, timeout=api.config.timeout_s, auto_retry=False
        )
        self._http = api.http
        self._api = api

    @property
    def access_token(self) -> str:
        """The token the current call was started with."""
        return self._api.token_for_this_call()

    def fetch_access_token(self) -> Any:
        """Never used: refreshing belongs to :class:`WeChatApi`, under its lock."""
        raise RuntimeError("WeChatApi refreshes tokens")


class WeChatApi:
    """One per app; thread-safe."""

    def __init__(self, config: WeChatConfig, store: EphemeralStore, data_key: Keys) -> None:
        self.config = config
        self.store = store
        self.data_key = data_key
        self.http = make_http_session(config.api_base)
        self._local = threading.local()
        self._client = _Client(self)

    # -- plumbing -------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        return f"wechat:{self.config.app_id}:{name}"

    def _get_json(self, path: str, params: Mapping[str, str], where: str) -> dict[str, Any]:
        """GET a WeChat JSON endpoint that needs no access token; raise on any errcode."""
        try:
            response = self.http.get(
                REAL_API_BASE + path, params=dict(params), timeout=self.config.timeout_s
            )
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("wechat %s unreachable: %s", where, type(exc).__name__)
            raise WeChatUnavailable(headers={"Retry-After": "1"}) from exc
        if not isinstance(body, dict):
            raise WeChatError(f"WeChat answered {where} with an unexpected body.")
        errcode = int(body.get("errcode") or 0)  # a success may omit errcode
        if errcode:
            log.info("wechat %s errcode %s", where, errcode)
            raise error_for(errcode, where)
        return body

    def _read_sealed(self, key: str, name: str) -> str | None:
        """The unsealed value under ``key``, or None when absent or not sealed by our key."""
        stored = self.store.get(key)
        if not stored:
            return None
        try:
            sealed = base64.urlsafe_b64decode(stored.encode())
            return unseal_text(self.data_key, sealed, "wechat:" + name)
        except (binascii.Error, ValueError, DecryptionFailed):
            return None  # e.g. written before sealing, or under another data key: refetch

    def _write_sealed(self, key: str, name: str, value: str, ttl: float) -> None:
        sealed = seal_text(self.data_key, value, "wechat:" + name)
        self.store.set(key, base64.urlsafe_b64encode(sealed).decode(), ttl)

    def _cached(self, name: str, fetch: Callable[[], tuple[str, int]], stale: str | None) -> str:
        """The cached value ``name``, fetched under a lock when absent or equal to ``stale``."""
        key = self._key(name)
        value = self._read_sealed(key, name)
        if value and value != stale:
            return value
        try:
            with self.store.lock(key, ttl=LOCK_TTL_S, wait=LOCK_TTL_S):
                value = self._read_sealed(key, name)
                if value and value != stale:
                    return value  # another worker refreshed while we waited
                value, expires_in = fetch()
                self._write_sealed(key, name, value, max(60, expires_in - TOKEN_MARGIN_S))
                return value
        except LockNotAcquired as exc:
            raise WeChatUnavailable(headers={"Retry-After": "1"}) from exc

    def _fetch_token(self) -> tuple[str, int]:
        log.info("wechat access token refresh")
        body = self._get_json(
            "/cgi-bin/token",
            {
                "grant_type": "client_credential",
                "appid": self.config.app_id,
                "secret": self.config.app_secret,
            },
            "token",
        )
        return str(body["access_token"]), int(body.get("expires_in", 7200))

    def _fetch_card_ticket(self) -> tuple[str, int]:
        log.info("wechat wx_card ticket refresh")
        body = self.call(lambda client: client.jsapi.get_ticket("wx_card"), "getticket")
        return str(body["ticket"]), int(body.get("expires_in", 7200))

    # -- public ---------------------------------------------------------------------------
    def access_token(self, stale: str | None = None) -> str:
        """The shared access token; pass ``stale`` to replace a token WeChat rejected."""
        return self._cached("access_token", self._fetch_token, stale)

    def card_api_ticket(self) -> str:
        """The shared ``wx_card`` api_ticket (for cardExt signatures)."""
        return self._cached("wx_card_ticket", self._fetch_card_ticket, None)

    def token_for_this_call(self) -> str:
        """The token :meth:`call` chose for the call running on this thread."""
        token = getattr(self._local, "token", None)
        return token if isinstance(token, str) else self.access_token()

    def call(self, operation: Callable[[WeChatClient], T], where: str) -> T:
        """Run a wechatpy operation; on 40001/42001 refresh the token once and retry."""
        stale: str | None = None
        for attempt in (1, 2):
            self._local.token = self.access_token(stale)
            try:
                return operation(self._client)
            except WeChatClientException as exc:
                errcode = int(exc.errcode) if exc.errcode is not None else None
                if errcode in TOKEN_EXPIRED and attempt == 1:
                    log.info("wechat %s: token rejected (%s), refreshing once", where, errcode)
                    stale = self._local.token
                    continue
                if errcode is None:
                    raise WeChatUnavailable(headers={"Retry-After": "1"}) from None
                log.info("wechat %s errcode %s", where, errcode)
                raise error_for(errcode, where) from None
            except requests.RequestException as exc:
                log.warning("wechat %s unreachable: %s", where, type(exc).__name__)
                raise WeChatUnavailable(headers={"Retry-After": "1"}) from None
            finally:
                self._local.token = None
        raise AssertionError("unreachable")  # pragma: no cover

    def code_to_session(self, code: str) -> Code2Session:
        """Exchange a mini-program login code; needs no access token (called directly)."""
        body = self._get_json(
            "/sns/jscode2session",
            {
                "appid": self.config.app_id,
                "secret": self.config.app_secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
            "jscode2session",
        )
        openid, session_key = body.get("openid"), body.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str) or not openid:
            raise WeChatError("WeChat answered jscode2session without an openid.")
        unionid = body.get("unionid")
        return Code2Session(openid, session_key, unionid if isinstance(unionid, str) else None)
