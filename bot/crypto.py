"""Encryption at rest and keyed hashing of personal data.

Invariants:
- Personal data is sealed with AES-256-GCM under ``WANGZHENG_DATA_KEY``; every ciphertext has a
  fresh 96-bit nonce and is bound to a purpose string (associated data), so a ciphertext moved
  to another column does not decrypt.
- Lookup hashes are HMAC-SHA256 under ``WANGZHENG_HASH_KEY``; they cannot be recomputed without
  the key, so a database dump does not reveal ID numbers by brute force of the 18-digit space.
- Comparisons of secrets use :func:`hmac.compare_digest` (constant time).
- Every sealed value names its key: ``0x02 | key id (4 bytes) | nonce | ciphertext``, the key
  id being a digest of the key. :class:`Keyring` holds the current key (used to seal) and
  retired keys (still accepted to unseal), so ``WANGZHENG_DATA_KEY`` can change and
  ``flask keys rotate-data-key`` re-seal at its own pace. Values written before the key id
  existed (``0x01``, no id) are tried against every key of the ring.
- Lookup hashes carry no key id; during a hash-key rotation a lookup tries the current key
  first, then each retired one (:meth:`Keyring.all`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.errors import WangzhengError

_LEGACY = b"\x01"  # version | nonce | ciphertext (before key ids)
_VERSION = b"\x02"  # version | key id | nonce | ciphertext
KEY_ID_BYTES = 4
_MIN_LEGACY = 1 + 12 + 16
_MIN_SEALED = 1 + KEY_ID_BYTES + 12 + 16


def key_id(key: bytes) -> bytes:
    """The id a sealed value carries for ``key``: 4 bytes of a domain-separated digest."""
    return hashlib.sha256(b"wangzheng.data-key-id\x00" + key).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class Keyring:
    """The current key and the retired keys that are still accepted."""

    current: bytes
    retired: tuple[bytes, ...] = ()

    @property
    def all(self) -> tuple[bytes, ...]:
        """Current key first, then the retired ones."""
        return (self.current, *self.retired)

    def find(self, wanted: bytes) -> bytes | None:
        """The key whose id is ``wanted``, if the ring still holds it."""
        return next((key for key in self.all if hmac.compare_digest(key_id(key), wanted)), None)

    def sealed_prefix(self) -> bytes:
        """How every value sealed under the current key starts (version and key id)."""
        return _VERSION + key_id(self.current)


Keys = bytes | Keyring


class DecryptionFailed(WangzhengError):
    """Stored data could not be decrypted with the configured key."""

    code = "decryption_failed"
    status = 500


def _ring(keys: Keys) -> Keyring:
    return keys if isinstance(keys, Keyring) else Keyring(keys)


def seal(keys: Keys, plaintext: bytes, purpose: str) -> bytes:
    """AES-GCM encrypt ``plaintext`` for ``purpose`` under the current key."""
    key = _ring(keys).current
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, plaintext, purpose.encode())
    return _VERSION + key_id(key) + nonce + body


def _open(key: bytes, nonce_and_body: bytes, purpose: str) -> bytes:
    return AESGCM(key).decrypt(nonce_and_body[:12], nonce_and_body[12:], purpose.encode())


def unseal(keys: Keys, sealed: bytes, purpose: str) -> bytes:
    """Decrypt what :func:`seal` produced for the same ``purpose``, under any key of the ring."""
    ring = _ring(keys)
    if sealed[:1] == _VERSION and len(sealed) >= _MIN_SEALED:
        key = ring.find(sealed[1 : 1 + KEY_ID_BYTES])
        candidates: tuple[bytes, ...] = (key,) if key is not None else ()
        body = sealed[1 + KEY_ID_BYTES :]
    elif sealed[:1] == _LEGACY and len(sealed) >= _MIN_LEGACY:
        candidates, body = ring.all, sealed[1:]
    else:
        raise DecryptionFailed()
    for candidate in candidates:
        try:
            return _open(candidate, body, purpose)
        except InvalidTag:
            continue
    raise DecryptionFailed()


def seal_text(keys: Keys, text: str, purpose: str) -> bytes:
    """:func:`seal` for UTF-8 text."""
    return seal(keys, text.encode(), purpose)


def unseal_text(keys: Keys, sealed: bytes, purpose: str) -> str:
    """:func:`unseal` for UTF-8 text."""
    return unseal(keys, sealed, purpose).decode()


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
