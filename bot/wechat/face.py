"""WeChat 人脸核身 (face verification against the authority source) as a delegated verifier.

Implements :class:`bot.identity.delegated.DelegatedFaceVerifier` with the two server calls of
WeChat's current face verification (documented at
developers.weixin.qq.com/miniprogram/dev/server/API/face/):

- ``POST /cityservice/face/identify/getverifyid`` with ``out_seq_no`` (5-32 of [0-9A-Za-z_-],
  unique per appid), ``cert_info`` {``cert_type`` IDENTITY_CARD, ``cert_name``, ``cert_no``} and
  ``openid``; answers ``verify_id`` (at most 256 characters) and ``expires_in`` (default 3600 s).
- the mini-program then runs ``wx.requestFacialVerify({verifyId})``;
- ``POST /cityservice/face/identify/queryverifyinfo`` with ``verify_id``, the same
  ``out_seq_no`` and ``openid``, and ``cert_hash`` (below); success is ``errcode`` 0 *and*
  ``verify_ret`` 10000.

Invariants:
- ``cert_hash`` = lowercase hex SHA-256 of ``cert_type=B64&cert_name=B64&cert_no=B64``, each
  value in standard base64 of its UTF-8 bytes (WeChat's documented rule). It is kept, with
  ``out_seq_no``, only in the opaque state the domain seals in the short-lived store.
- Calls go through :meth:`bot.wechat.client.WeChatApi.call`: shared access token, one retry on
  an expired token, timeouts and -1 as ``wechat_unavailable`` (503, Retry-After). Any other
  ``errcode`` from ``queryverifyinfo`` means WeChat does not accept this session (unknown,
  expired, openid or cert_hash mismatch) and becomes ``verify_id_invalid``.
- The name and ID number are sent to WeChat only; they are never logged (only errcodes are).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from bot.identity.delegated import DelegatedOutcome, DelegatedSession, DelegatedSessionInvalid
from bot.wechat.client import TOKEN_EXPIRED, WeChatApi
from bot.wechat.config import REAL_API_BASE
from bot.wechat.errors import WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

GET_VERIFY_ID = "/cityservice/face/identify/getverifyid"
QUERY_VERIFY_INFO = "/cityservice/face/identify/queryverifyinfo"
CERT_TYPE_ID_CARD = "IDENTITY_CARD"
VERIFY_RET_OK = 10000
# Transport, system busy, quota and rate limits: WeChat could not judge; not the session's fault.
TRANSIENT_ERRCODES = {-1, 45009, 45011, *TOKEN_EXPIRED}


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    """WeChat's ``cert_hash`` of the identity sent to ``getverifyid``."""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    joined = f"cert_type={b64(cert_type)}&cert_name={b64(cert_name)}&cert_no={b64(cert_no)}"
    return hashlib.sha256(joined.encode()).hexdigest()


def reason_for(verify_ret: int) -> str:
    """Our stable reason for a ``verify_ret``.

    10000 success; 10003 the ID number does not match (WeChat's enum); the other 1000x values
    are the server-side comparison failing (10002 no usable face features, 10004 the face
    comparison); 9xxxx are the phone's side (cancelled, no camera permission, timeout).
    """
    if verify_ret == VERIFY_RET_OK:
        return "passed"
    if verify_ret == 10003:
        return "identity_mismatch"
    if 10001 < verify_ret < 11000:
        return "face_mismatch"
    if 90000 <= verify_ret < 100000:
        return "not_completed"
    return "failed"


class WeChatFaceVerifier:
    """The delegated verifier of ``WANGZHENG_ENROL_LIVENESS=wechat``; thread-safe."""

    def __init__(self, api: Callable[[], WeChatApi]) -> None:
        self._api = api  # resolved per call: the WeChatApi is created on first use

    def _post(self, path: str, body: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            result = self._api().call(
                lambda client: client.post(REAL_API_BASE + path, data=body), where
            )
        except WeChatError as exc:
            if exc.status == 503:  # an outage or the daily quota: tell the client when to retry
                quota = exc.code.endswith("quota_exceeded")
                exc.headers.setdefault("Retry-After", "60" if quota else "1")
            raise
        if not isinstance(result, dict):
            raise WeChatUnavailable(headers={"Retry-After": "1"})
        return result

    def start(self, *, openid: str, name: str, id_number: str) -> DelegatedSession:
        """``getverifyid`` for this person; the state carries ``out_seq_no`` and ``cert_hash``."""
        out_seq_no = "wz" + secrets.token_hex(15)  # 32 characters, unique per call
        body = {
            "out_seq_no": out_seq_no,
            "cert_info": {"cert_type": CERT_TYPE_ID_CARD, "cert_name": name, "cert_no": id_number},
            "openid": openid,
        }
        answer = self._post(GET_VERIFY_ID, body, "face.getverifyid")
        verify_id = answer.get("verify_id")
        if not isinstance(verify_id, str) or not 0 < len(verify_id) <= 256:
            raise WeChatError("WeChat answered getverifyid without a verify_id.")
        expires_in = answer.get("expires_in")
        state = {
            "out_seq_no": out_seq_no,
            "cert_hash": cert_hash(CERT_TYPE_ID_CARD, name, id_number),
        }
        return DelegatedSession(
            verify_id=verify_id,
            expires_in=int(expires_in) if isinstance(expires_in, int) else 3600,
            state=json.dumps(state),
        )

    def outcome(self, *, openid: str, verify_id: str, state: str) -> DelegatedOutcome:
        """``queryverifyinfo``: WeChat's own record of the scan done with ``verify_id``."""
        saved = json.loads(state)
        body = {
            "verify_id": verify_id,
            "out_seq_no": saved["out_seq_no"],
            "cert_hash": saved["cert_hash"],
            "openid": openid,
        }
        try:
            answer = self._post(QUERY_VERIFY_INFO, body, "face.queryverifyinfo")
        except WeChatError as exc:
            errcode = exc.details.get("errcode")
            if errcode is None or errcode in TRANSIENT_ERRCODES:
                raise
            raise DelegatedSessionInvalid(
                "WeChat does not accept this face verification session; start again.",
                details={"errcode": errcode},
            ) from None
        verify_ret = answer.get("verify_ret")
        if not isinstance(verify_ret, int):
            raise WeChatError("WeChat answered queryverifyinfo without a verify_ret.")
        return DelegatedOutcome(verify_ret == VERIFY_RET_OK, verify_ret, reason_for(verify_ret))
