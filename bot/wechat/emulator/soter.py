"""The emulator's SOTER: a test key per openid standing in for the phone's TEE, and
``POST /cgi-bin/soter/verify_signature``.

What WeChat documents (mini-program ``wx.startSoterAuthentication`` and the server API
``soter/verify_signature``, developers.weixin.qq.com):
- the phone's TEE builds ``resultJSON`` from the caller's challenge, which it puts in ``raw``,
  and its own fields (``fid``, ``counter``, ``tee_n``, ``tee_v``, ``fp_n``, ``fp_v``,
  ``cpu_id``, ``uid``), and signs it with the device's SOTER key: SHA256 with RSA/PSS,
  salt length 20; the signature (``resultJSONSignature``) is base64. The biometric used
  (``authMode``: ``fingerPrint`` or ``facial``) comes back next to it, not inside it.
- the server posts ``{"openid", "json_string", "json_signature"}`` and gets ``{"is_ok": true}``
  or ``{"is_ok": false}``; a bad call answers an ``errcode`` (47001 for a malformed body here).

Invariants:
- One RSA-2048 key per openid, made on first use and kept in this emulator instance only (a
  multi-worker development server has one per worker; tests run one instance). The private key
  never leaves this module: :meth:`SoterAuthority.authenticate` plays the phone's TEE and
  returns what the mini-program would receive.
- :meth:`SoterAuthority.verify_signature` verifies for real with the public key of the openid in
  the request: a modified ``json_string``, a signature by another openid's key, an openid that
  never made a key, or a signature that is not base64 all answer ``is_ok: false``.
- ``counter`` rises by one per authentication of an openid, as the TEE's anti-replay counter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SALT_LENGTH = 20  # WeChat: "SHA256 with RSA/PSS, saltlen=20"
AUTH_MODES = ("fingerPrint", "facial")
ERR_DATA_FORMAT = 47001
MAX_FIELD_CHARS = 8192


def pss() -> padding.PSS:
    """SOTER's signature padding."""
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=SALT_LENGTH)


@dataclass(frozen=True)
class SoterResult:
    """What ``wx.startSoterAuthentication`` hands the mini-program on success."""

    auth_mode: str
    result_json: str
    result_json_signature: str


class SoterAuthority:
    """The SOTER keys of the emulator's users; thread-safe."""

    def __init__(self) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def _key(self, openid: str) -> rsa.RSAPrivateKey:
        with self._lock:
            key = self._keys.get(openid)
            if key is None:
                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._keys[openid] = key
            return key

    def authenticate(
        self, openid: str, challenge: str, auth_mode: str = "fingerPrint"
    ) -> SoterResult:
        """Play the phone: the user touched the sensor (or looked at the camera) for
        ``challenge``; the TEE signs the result with ``openid``'s SOTER key."""
        if auth_mode not in AUTH_MODES:
            raise ValueError("unsupported auth mode")
        key = self._key(openid)
        with self._lock:
            counter = self._counters.get(openid, 0) + 1
            self._counters[openid] = counter
        device = hashlib.sha256(b"cpu:" + openid.encode()).hexdigest()[:16]
        result = {
            "raw": challenge,
            "fid": "1",
            "counter": counter,
            "tee_n": "WangzhengEmulatorTEE",
            "tee_v": "1.0",
            "fp_n": "emulator-sensor" if auth_mode == "fingerPrint" else "emulator-camera",
            "fp_v": "1.0",
            "cpu_id": device,
            "uid": "10086",
        }
        result_json = json.dumps(result, separators=(",", ":"))
        signature = key.sign(result_json.encode(), pss(), hashes.SHA256())
        return SoterResult(auth_mode, result_json, base64.b64encode(signature).decode())

    def verify_signature(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /cgi-bin/soter/verify_signature``."""
        fields = [body.get(name) for name in ("openid", "json_string", "json_signature")]
        if not all(isinstance(v, str) and 0 < len(v) <= MAX_FIELD_CHARS for v in fields):
            return {"errcode": ERR_DATA_FORMAT, "errmsg": "data format error"}
        openid, json_string, json_signature = (str(value) for value in fields)
        with self._lock:
            key = self._keys.get(openid)
        return {"errcode": 0, "errmsg": "ok", "is_ok": _holds(key, json_string, json_signature)}


def _holds(key: rsa.RSAPrivateKey | None, json_string: str, json_signature: str) -> bool:
    """True only when ``key`` exists and signed exactly ``json_string``."""
    if key is None:
        return False
    try:
        signature = base64.b64decode(json_signature, validate=True)
        key.public_key().verify(signature, json_string.encode(), pss(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
