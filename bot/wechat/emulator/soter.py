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
- One RSA-2048 key per openid, made on first use. Kept in this emulator instance, or, given a
  ``key_dir`` (the development server's instance folder), in one PEM file per openid that every
  worker process shares: the first process to create it wins (an exclusive create), the others
  read it, so a key made by one gunicorn worker verifies in another. The private key
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
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
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

    def __init__(self, key_dir: Path | None = None) -> None:
        self._keys: dict[str, rsa.RSAPrivateKey] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._key_dir = key_dir

    def _key_file(self, openid: str) -> Path | None:
        if self._key_dir is None:
            return None
        return self._key_dir / (hashlib.sha256(openid.encode()).hexdigest()[:32] + ".pem")

    def _stored(self, openid: str) -> rsa.RSAPrivateKey | None:
        """The openid's key, from this instance or the shared folder; None if it has none."""
        key = self._keys.get(openid)
        path = self._key_file(openid)
        if key is None and path is not None and path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                key = self._keys[openid] = loaded
        return key

    def _key(self, openid: str) -> rsa.RSAPrivateKey:
        with self._lock:
            key = self._stored(openid)
            if key is not None:
                return key
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path = self._key_file(openid)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                try:
                    with open(path, "xb") as handle:  # another worker may have won meanwhile
                        handle.write(pem)
                except FileExistsError:
                    self._keys.pop(openid, None)
                    return self._stored(openid) or key
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
            key = self._stored(openid)
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
