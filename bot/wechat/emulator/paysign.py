"""The cryptography of WeChat Pay API v3, as the platform side does it (emulator only).

- The platform has its own RSA key and a self-signed X.509 certificate; the certificate's serial
  number, upper-case hex, is what ``Wechatpay-Serial`` names.
- Every answer and every notification is signed: SHA256-with-RSA (PKCS#1 v1.5) over
  ``timestamp\\nnonce\\nbody\\n``, base64 in ``Wechatpay-Signature``.
- Resources (notifications, the certificate list) are sealed with AEAD_AES_256_GCM under the
  merchant's APIv3 key: 12-character nonce, ``associated_data`` text, base64 ciphertext+tag.
- A merchant's request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,
  nonce_str=...,signature=...,timestamp=...,serial_no=...``, a signature over
  ``method\\npath?query\\ntimestamp\\nnonce\\nbody\\n`` with the merchant's key.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import string

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')
_NONCE_CHARS = string.ascii_letters + string.digits


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (generated at start; nothing is downloaded)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM of ``key`` (the shape of a merchant's ``apiclient_key.pem``)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def self_signed_certificate(
    key: rsa.RSAPrivateKey, common_name: str, now: dt.datetime, days: int = 1825
) -> x509.Certificate:
    """A certificate for ``key`` valid from a day before ``now`` for ``days`` days."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def serial_hex(certificate: x509.Certificate) -> str:
    """The serial as WeChat writes it: upper-case hex without leading zeros."""
    return format(certificate.serial_number, "X")


def nonce_str(length: int = 32) -> str:
    """A random nonce of letters and digits."""
    return "".join(secrets.choice(_NONCE_CHARS) for _ in range(length))


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """Base64 SHA256-with-RSA signature of ``message``."""
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    """True when ``signature`` (base64) signs ``message`` under ``public_key``."""
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            message.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_headers(
    key: rsa.RSAPrivateKey, serial: str, body: str, timestamp: int, nonce: str | None = None
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers of an answer or notification carrying ``body``."""
    nonce = nonce or nonce_str()
    return {
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": rsa_sign(key, f"{timestamp}\n{nonce}\n{body}\n"),
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def aead_seal(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """An AEAD_AES_256_GCM resource (algorithm, nonce, associated_data, ciphertext)."""
    nonce = nonce_str(12)
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext.encode(), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": associated_data,
        "ciphertext": base64.b64encode(sealed).decode(),
    }


def parse_authorization(header: str) -> dict[str, str] | None:
    """The fields of a ``WECHATPAY2-SHA256-RSA2048`` Authorization header, or None."""
    scheme, _, rest = header.partition(" ")
    if scheme != SIGNATURE_TYPE:
        return None
    fields = dict(_AUTH_FIELD.findall(rest))
    wanted = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
    return fields if all(fields.get(name) for name in wanted) else None


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (a public key, or taken from a private key)."""
    data = pem.encode()
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("not an RSA key")
        return private.public_key()
    public = serialization.load_pem_public_key(data)
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("not an RSA key")
    return public
