"""The emulator's 人脸核身: ``getverifyid`` and ``queryverifyinfo``, and the user's scan.

Invariants:
- The request and answer fields, the ``cert_hash`` rule and ``verify_ret`` values are WeChat's
  (see :mod:`bot.wechat.face`). The emulator keeps its own authority record (ID number -> name,
  :meth:`FaceAuthority.register`), independent of our registry, and judges against it.
- A session completes only through :meth:`FaceAuthority.scan`, which plays the user's
  ``wx.requestFacialVerify`` on their phone: tests choose whether the face matched, or a
  phone-side ``verify_ret`` (90002 cancelled ...). Nothing passes by default: a session never
  scanned, or scanned from another openid, does not answer 10000.
- WeChat does not publish the errcodes of ``queryverifyinfo`` for an unknown or expired session
  or for mismatched parameters; the ``ERR_*`` numbers below are the emulator's stand-ins. Our
  adapter treats every such errcode alike, so it does not depend on the exact numbers.
- Time comes from an injectable clock (:meth:`FaceAuthority.advance` moves it in tests).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.wechat.face import CERT_TYPE_ID_CARD, VERIFY_RET_OK, cert_hash

VERIFY_ID_TTL_S = 3600  # WeChat's documented default expires_in
OUT_SEQ_NO = re.compile(r"^[0-9A-Za-z_-]{5,32}$")
VERIFY_RET_ID_MISMATCH = 10003
VERIFY_RET_FACE_MISMATCH = 10004
VERIFY_RET_USER_CANCELLED = 90002
ERR_INVALID_ARGS = 47001  # WeChat's general "data format error"
ERR_INVALID_OPENID = 40003  # WeChat's general "invalid openid"
ERR_DUPLICATE_SEQ = 9300801
ERR_VERIFY_ID_UNKNOWN = 9300802
ERR_VERIFY_ID_EXPIRED = 9300803
ERR_PARAMS_MISMATCH = 9300804
ERR_NOT_VERIFIED = 9300805


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


@dataclass
class FaceSession:
    """One ``verify_id`` as WeChat keeps it."""

    out_seq_no: str
    openid: str
    cert_name: str
    cert_no: str
    expires_at: float
    verify_ret: int | None = None


class FaceAuthority:
    """State of the face endpoints; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.authority: dict[str, str] = {}
        self.sessions: dict[str, FaceSession] = {}
        self._seqs: set[str] = set()
        self._clock = clock
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The emulator's time."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's time forward (tests: expire a session without sleeping)."""
        self._offset += seconds

    def register(self, id_number: str, name: str) -> None:
        """Put a person in the emulator's authority source (as the national database holds it)."""
        with self._lock:
            self.authority[id_number] = name

    def scan(
        self,
        verify_id: str,
        openid: str,
        *,
        face_matches: bool = True,
        verify_ret: int | None = None,
    ) -> int:
        """Play ``wx.requestFacialVerify`` on the phone of ``openid``; returns the ``verify_ret``.

        ``face_matches`` says whether the person in front of the camera is the one named;
        ``verify_ret`` forces a phone-side outcome (for example 90002, cancelled). The result
        is judged here, against the emulator's own authority record, never taken on trust.
        """
        with self._lock:
            session = self.sessions.get(verify_id)
            if session is None or session.expires_at <= self.now():
                raise KeyError("unknown or expired verify_id")
            if session.openid != openid:
                # WeChat: the openid of getverifyid must be the user running the scan.
                session.verify_ret = VERIFY_RET_ID_MISMATCH
            elif verify_ret is not None:
                session.verify_ret = verify_ret
            elif self.authority.get(session.cert_no) != session.cert_name:
                session.verify_ret = VERIFY_RET_ID_MISMATCH
            else:
                session.verify_ret = VERIFY_RET_OK if face_matches else VERIFY_RET_FACE_MISMATCH
            return session.verify_ret

    # -- endpoints ------------------------------------------------------------------------
    def get_verify_id(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /cityservice/face/identify/getverifyid``."""
        out_seq_no, openid = body.get("out_seq_no"), body.get("openid")
        cert = body.get("cert_info")
        if not isinstance(out_seq_no, str) or not OUT_SEQ_NO.match(out_seq_no):
            return _error(ERR_INVALID_ARGS, "invalid out_seq_no")
        if not isinstance(openid, str) or not openid:
            return _error(ERR_INVALID_OPENID, "invalid openid")
        if not isinstance(cert, dict) or cert.get("cert_type") != CERT_TYPE_ID_CARD:
            return _error(ERR_INVALID_ARGS, "invalid cert_info")
        name, number = cert.get("cert_name"), cert.get("cert_no")
        if not isinstance(name, str) or not name or not isinstance(number, str) or not number:
            return _error(ERR_INVALID_ARGS, "invalid cert_info")
        verify_id = "emuverify" + secrets.token_urlsafe(24)
        with self._lock:
            if out_seq_no in self._seqs:
                return _error(ERR_DUPLICATE_SEQ, "out_seq_no already used")
            self._seqs.add(out_seq_no)
            self.sessions[verify_id] = FaceSession(
                out_seq_no, openid, name, number, self.now() + VERIFY_ID_TTL_S
            )
        return {"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": VERIFY_ID_TTL_S}

    def query_verify_info(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /cityservice/face/identify/queryverifyinfo``."""
        fields = [body.get(name) for name in ("verify_id", "out_seq_no", "cert_hash", "openid")]
        if not all(isinstance(value, str) and value for value in fields):
            return _error(ERR_INVALID_ARGS, "missing verify_id, out_seq_no, cert_hash or openid")
        verify_id, out_seq_no, hashed, openid = (str(value) for value in fields)
        with self._lock:
            session = self.sessions.get(verify_id)
            if session is None:
                return _error(ERR_VERIFY_ID_UNKNOWN, "verify_id not found")
            if session.expires_at <= self.now():
                return _error(ERR_VERIFY_ID_EXPIRED, "verify_id expired")
            expected = cert_hash(CERT_TYPE_ID_CARD, session.cert_name, session.cert_no)
            if (out_seq_no, openid, hashed) != (session.out_seq_no, session.openid, expected):
                return _error(ERR_PARAMS_MISMATCH, "out_seq_no, openid or cert_hash mismatch")
            if session.verify_ret is None:
                return _error(ERR_NOT_VERIFIED, "face verification not done")
            return {"errcode": 0, "errmsg": "ok", "verify_ret": session.verify_ret}
