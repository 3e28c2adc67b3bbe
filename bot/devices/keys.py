"""Device keys: each mini-program install holds a P-256 key pair and proves it at every login.

Invariants:
- A device is ``(citizen, device_id)`` plus the public key it sent at its first login
  (:class:`~storage.models.device_key.DeviceKey`, unique per citizen and device id). A login
  claiming a device id the citizen already has must be signed by that device's key: a copied
  ``device_id`` without the private key cannot sign in as the device (:class:`DeviceKeyMismatch`).
- Every login signs a single-use server nonce (:func:`new_login_nonce`, 120 s, consumed at
  the first use whether or not the signature holds) together with the device id, so a signature
  cannot be replayed, nor moved to another device id.
- Signatures are ECDSA P-256 with SHA-256, in the IEEE P1363 form WebCrypto produces (``r||s``,
  64 bytes) or DER; keys are SubjectPublicKeyInfo (DER), base64. Anything else is refused
  before any write.
- The private key lives in the mini-program's storage, not in secure hardware: whoever copies
  that storage copies the device. The SOTER unlock adds the phone's biometric hardware.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.devices.errors import DeviceKeyInvalid, DeviceProofInvalid, LoginNonceInvalid
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow
from storage.models.device_key import DeviceKey

Clock = Callable[[], float]
NONCE_TTL_S = 120
_NONCE = "login-nonce:"
_NONCE_USED = "login-nonce-used:"
SIGNED_PREFIX = "wangzheng-device-login"


def new_login_nonce(store: EphemeralStore, clock: Clock = time.time) -> str:
    """A fresh single-use nonce for the next login's signature, valid :data:`NONCE_TTL_S`."""
    nonce = secrets.token_urlsafe(24)
    store.set(_NONCE + nonce, repr(clock()), NONCE_TTL_S)
    return nonce


def consume_login_nonce(store: EphemeralStore, nonce: str, clock: Clock = time.time) -> None:
    """Use ``nonce`` up, or raise :class:`LoginNonceInvalid` (unknown, expired or used).

    Expiry is judged on ``clock`` (the app's) as well as by the store's TTL; the used-mark is a
    set-if-absent, so two logins racing with one nonce cannot both pass.
    """
    issued = store.get(_NONCE + nonce) if nonce and len(nonce) <= 64 else None
    if issued is None or not float(issued) <= clock() <= float(issued) + NONCE_TTL_S:
        raise LoginNonceInvalid()
    if not store.add(_NONCE_USED + nonce, "1", NONCE_TTL_S):
        raise LoginNonceInvalid()
    store.delete(_NONCE + nonce)


def signed_message(nonce: str, device_id: str) -> bytes:
    """What the device signs: the purpose, the nonce and the device id."""
    return f"{SIGNED_PREFIX}\n{nonce}\n{device_id}".encode()


def _b64(value: str, limit: int) -> bytes:
    if not value or len(value) > limit:
        raise DeviceKeyInvalid()
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DeviceKeyInvalid() from exc


def parse_public_key(encoded: str) -> bytes:
    """The SPKI DER bytes of a P-256 public key given in base64, or :class:`DeviceKeyInvalid`."""
    der = _b64(encoded.replace("+", "-").replace("/", "_"), 400)
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise DeviceKeyInvalid() from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise DeviceKeyInvalid("The device key must be an ECDSA P-256 public key.")
    return der


def check_signature(public_key_der: bytes, message: bytes, signature: str) -> bool:
    """True when ``signature`` (base64, P1363 or DER) signs ``message`` under the key."""
    raw = _b64(signature.replace("+", "-").replace("/", "_"), 200)
    if len(raw) == 64:
        raw = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = load_der_public_key(public_key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)  # noqa: S101 - parse_public_key checked it
    try:
        key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class DeviceProof:
    """What the login carries: the key (required the first time), the nonce and its signature."""

    nonce: str
    signature: str
    public_key: str | None = None


def check_proof(
    session: Session,
    citizen_id: int,
    device_id: str,
    proof: DeviceProof,
) -> tuple[DeviceKey | None, bytes]:
    """Check the signature of the (already consumed) nonce; returns (the known key row or None,
    its DER).

    Raises :class:`LoginNonceInvalid`, :class:`DeviceKeyInvalid` or :class:`DeviceProofInvalid`
    (a registered device whose key did not sign, or a different key offered for it).
    """
    known = registered_key(session, citizen_id, device_id)
    if known is not None:
        if proof.public_key and not hmac.compare_digest(
            parse_public_key(proof.public_key), known.public_key
        ):
            raise DeviceProofInvalid()
        der = known.public_key
    elif proof.public_key:
        der = parse_public_key(proof.public_key)
    else:
        raise DeviceKeyInvalid("The first login of a device sends its public key.")
    if not check_signature(der, signed_message(proof.nonce, device_id), proof.signature):
        raise DeviceProofInvalid()
    return known, der


def registered_key(session: Session, citizen_id: int, device_id: str) -> DeviceKey | None:
    """The key registered for the citizen's device, if any."""
    return session.scalars(
        select(DeviceKey).where(
            DeviceKey.citizen_id == citizen_id, DeviceKey.device_id == device_id
        )
    ).one_or_none()


def bind_key(
    session: Session, citizen_id: int, device_id: str, der: bytes, known: DeviceKey | None
) -> DeviceKey:
    """The proved key's row: the known one, or a new one registered for this device."""
    now = utcnow()
    if known is not None:
        known.last_proved_at = now
        return known
    row = DeviceKey(
        citizen_id=citizen_id, device_id=device_id, public_key=der, created_at=now,
        last_proved_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row
