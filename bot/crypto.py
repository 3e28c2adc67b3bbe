"""Encryption at rest and keyed hashing of personal data.

Invariants:
- Personal data is sealed with AES-256-GCM under ``WANGZHENG_DATA_KEY``; every ciphertext has a
  fresh 96-bit nonce and is bound to a purpose string (associated data), so a ciphertext moved
  to another column does not decrypt.
- Lookup hashes are HMAC-SHA256 under ``WANGZHENG_HASH_KEY``; they cannot be recomputed without
  the key, so a database dump does not reveal ID numbers by brute force of the 18-digit space.
- Comparisons of secrets use :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import WangzhengError

_VERSION = b"\x01"


class DecryptionFailed(WangzhengError):
    """Stored data could not be decrypted with the configured key."""

    code = "decryption_failed"
    status = 500


def seal(data_key: bytes, plaintext: bytes, purpose: str) -> bytes:
    """AES-GCM encrypt ``plaintext`` for ``purpose``; returns version|nonce|ciphertext."""
    nonce = os.urandom(12)
    return _VERSION + nonce + AESGCM(data_key).encrypt(nonce, plaintext, purpose.encode())


def unseal(data_key: bytes, sealed: bytes, purpose: str) -> bytes:
    """Decrypt what :func:`seal` produced for the same ``purpose``."""
    if len(sealed) < 29 or sealed[:1] != _VERSION:
        raise DecryptionFailed()
    try:
        return AESGCM(data_key).decrypt(sealed[1:13], sealed[13:], purpose.encode())
    except InvalidTag as exc:
        raise DecryptionFailed() from exc


def seal_text(data_key: bytes, text: str, purpose: str) -> bytes:
    """:func:`seal` for UTF-8 text."""
    return seal(data_key, text.encode(), purpose)


def unseal_text(data_key: bytes, sealed: bytes, purpose: str) -> str:
    """:func:`unseal` for UTF-8 text."""
    return unseal(data_key, sealed, purpose).decode()


def keyed_hash(hash_key: bytes, value: str, purpose: str) -> str:
    """Hex HMAC-SHA256 of ``value`` for ``purpose`` (domain-separated)."""
    message = purpose.encode() + b"\x00" + value.encode()
    return hmac.new(hash_key, message, hashlib.sha256).hexdigest()


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy bearer token, for storage (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality."""
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
