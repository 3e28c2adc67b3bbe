"""A mini-program install: its P-256 key pair, and login bodies signed with it.

The signature is the raw ``r||s`` form WebCrypto gives (what the simulator sends); the public key
is SubjectPublicKeyInfo, both base64. The server's side of the proof is ``bot.devices.keys``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from bot.devices.keys import signed_message

NONCE = "/api/v1/mp/login/nonce"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class TestDevice:
    """One install: a device id and its private key."""

    device_id: str
    model: str | None = None
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    __test__ = False  # not a test class

    @property
    def public_key_der(self) -> bytes:
        """SubjectPublicKeyInfo of the public key."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_key_der_b64(self) -> str:
        """The public key as the login sends it."""
        return _b64(self.public_key_der)

    def sign(self, nonce: str, device_id: str | None = None) -> str:
        """The P1363 (``r||s``) signature of the login message, base64."""
        der = self.private_key.sign(
            signed_message(nonce, device_id or self.device_id), ec.ECDSA(hashes.SHA256())
        )
        r, s = decode_dss_signature(der)
        return _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def proof(self, client: Any, *, send_key: bool = True) -> dict[str, str]:
        """A fresh nonce from the server, signed; with the public key unless told not to."""
        response = client.post(NONCE)
        assert response.status_code == 201, response.get_json()
        nonce = response.get_json()["nonce"]
        proof = {"nonce": nonce, "signature": self.sign(nonce)}
        if send_key:
            proof["public_key"] = self.public_key_der_b64
        return proof

    def login_body(self, client: Any, code: str, **device: Any) -> dict[str, Any]:
        """The whole ``/api/v1/mp/login`` body for ``code``."""
        described = {"device_id": self.device_id, **device}
        if self.model and "model" not in described:
            described["model"] = self.model
        return {"code": code, "device": described, "device_key": self.proof(client)}
