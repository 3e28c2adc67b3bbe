"""WeChat SOTER signature verification (``soter/verify_signature``) as the devices domain's
:class:`bot.devices.soter.SoterVerifier`.

``POST /cgi-bin/soter/verify_signature?access_token=...`` with ``openid``, ``json_string`` (the
``resultJSON`` of ``wx.startSoterAuthentication``) and ``json_signature`` (its
``resultJSONSignature``); WeChat answers ``{"is_ok": true}`` or ``{"is_ok": false}``, or an
``errcode`` for a call it refuses.

Invariants:
- Calls go through :meth:`bot.wechat.client.WeChatApi.call`: shared access token, one retry on
  an expired token; timeouts and -1 become ``wechat_unavailable`` (503, Retry-After), 45009 the
  quota (503, Retry-After 60), 45011 ``wechat_rate_limited`` (429).
- Only ``is_ok`` being exactly ``true`` accepts. Any other errcode (a malformed call, an openid
  WeChat does not know) means WeChat does not vouch for this signature: False.
- The openid, resultJSON and signature are sent to WeChat only and never logged (only
  errcodes are).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.wechat.client import WeChatApi
from bot.wechat.config import REAL_API_BASE
from bot.wechat.errors import WeChatError, WeChatUnavailable
from bot.wechat.face import TRANSIENT_ERRCODES

log = logging.getLogger(__name__)
VERIFY_SIGNATURE = "/cgi-bin/soter/verify_signature"


class WeChatSoterVerifier:
    """The SOTER verifier the app factory installs; thread-safe."""

    def __init__(self, api: Callable[[], WeChatApi]) -> None:
        self._api = api  # resolved per call: the WeChatApi is created on first use

    def verify(self, *, openid: str, result_json: str, result_json_signature: str) -> bool:
        """WeChat's verdict on the SOTER signature of ``result_json`` for ``openid``."""
        body = {
            "openid": openid,
            "json_string": result_json,
            "json_signature": result_json_signature,
        }
        try:
            answer = self._api().call(
                lambda client: client.post(REAL_API_BASE + VERIFY_SIGNATURE, data=body),
                "soter.verify_signature",
            )
        except WeChatError as exc:
            errcode = exc.details.get("errcode")
            if exc.status == 503:
                quota = exc.code.endswith("quota_exceeded")
                exc.headers.setdefault("Retry-After", "60" if quota else "1")
                raise
            if errcode is None or errcode in TRANSIENT_ERRCODES:
                raise
            log.info("wechat soter.verify_signature refused, errcode %s", errcode)
            return False
        if not isinstance(answer, dict) or not isinstance(answer.get("is_ok"), bool):
            raise WeChatUnavailable(headers={"Retry-After": "1"})
        return answer["is_ok"] is True
