"""WeChat SOTER, as the devices domain sees it: the verifier protocol, the biometric methods and
the signed ``resultJSON``.

The verifier (WeChat's ``soter/verify_signature``) is a :class:`SoterVerifier` owned here,
implemented in the adapter (:mod:`bot.wechat.soter`) and installed by the app factory; this
package never imports :mod:`bot.wechat`.

Invariants:
- ``resultJSON`` is what the phone's TEE signed: a JSON object whose ``raw`` is the challenge
  the caller passed to ``wx.startSoterAuthentication`` (WeChat's field name), plus the TEE's
  own fields (``counter``, ``cpu_id``, ``uid`` ...). It is parsed only to read ``raw``; nothing
  in it is trusted before the verifier accepted its signature for the citizen's openid.
- The biometric (``authMode``: ``fingerPrint`` or ``facial``) is returned by WeChat next to
  ``resultJSON``, outside the signature; it maps to our method (``fingerprint``, ``face``) and
  to the RFC 8176 ``amr`` value (``fpt``, ``face``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from bot.credentials.tokens import FACE_AMR, FINGERPRINT_AMR
from bot.devices.errors import SoterResultInvalid

METHODS = ("fingerprint", "face")
AUTH_MODE_METHOD = {"fingerPrint": "fingerprint", "facial": "face"}
METHOD_AMR = {"fingerprint": FINGERPRINT_AMR, "face": FACE_AMR}  # RFC 8176
MAX_RESULT_JSON_CHARS = 4096
MAX_SIGNATURE_CHARS = 1024
_VERIFIER = "wangzheng.soter_verifier"


class SoterVerifier(Protocol):
    """A platform that checks a SOTER signature against the account's device key.

    ``verify`` answers True or False for the signature itself; it raises a
    :class:`bot.errors.WangzhengError` with status 503 (and ``Retry-After``) when the platform
    could not judge, and another error when it refused the call.
    """

    def verify(self, *, openid: str, result_json: str, result_json_signature: str) -> bool:
        """Whether the SOTER key of ``openid``'s phone signed exactly ``result_json``."""
        ...


def set_soter_verifier(app: Flask, verifier: SoterVerifier) -> None:
    """Install the app's SOTER verifier (the app factory passes the WeChat one)."""
    app.extensions[_VERIFIER] = verifier


def soter_verifier(app: Flask | None = None) -> SoterVerifier:
    """The app's SOTER verifier."""
    return (app or current_app).extensions[_VERIFIER]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SoterResult:
    """What the mini-program forwards from ``wx.startSoterAuthentication``'s success."""

    result_json: str
    result_json_signature: str
    auth_mode: str = "fingerPrint"

    @property
    def method(self) -> str:
        """Our name of the biometric used (``fingerprint`` or ``face``)."""
        method = AUTH_MODE_METHOD.get(self.auth_mode)
        if method is None:
            raise SoterResultInvalid("authMode must be fingerPrint or facial.")
        return method


def signed_challenge(result_json: str) -> str:
    """The challenge (``raw``) inside ``resultJSON``, or :class:`SoterResultInvalid`."""
    if not 0 < len(result_json) <= MAX_RESULT_JSON_CHARS:
        raise SoterResultInvalid()
    try:
        parsed = json.loads(result_json)
    except ValueError:
        raise SoterResultInvalid() from None
    raw = parsed.get("raw") if isinstance(parsed, dict) else None
    if not isinstance(raw, str) or not 0 < len(raw) <= 128:
        raise SoterResultInvalid("resultJSON carries no challenge (raw).")
    return raw
