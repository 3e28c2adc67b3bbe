"""Authenticating, decrypting and parsing WeChat server callbacks (plain and safe/AES mode).

Invariants, in the order they are enforced by :func:`open_message`:
0. When an AES key is configured, only safe-mode messages are accepted: plain mode's signature
   does not cover the body, so the caller's ``encrypt_type`` never selects it
   (:class:`SafeModeRequired`, before anything is parsed or a nonce is consumed).
1. The body is at most ``max_body_bytes`` (checked by the caller before reading it all).
2. The URL ``signature`` = sha1(sorted(token, timestamp, nonce)) is compared in constant time
   before a single byte of the body is parsed; in safe mode the ``msg_signature`` over the
   ``Encrypt`` value is also compared in constant time before anything is decrypted.
3. A (timestamp, nonce) pair is accepted once: the timestamp must be within
   ``replay_window_s`` of :func:`clock`, and ``store.add`` of the pair must win. Only
   authenticated requests consume a nonce, so forged ones cannot burn legitimate nonces.
4. XML is parsed by defusedxml with DTDs forbidden: no entity expansion, no external entities.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element  # type only; parsing uses defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from bot.crypto import same
from bot.wechat.config import WeChatConfig
from bot.wechat.errors import (
    InvalidSignature,
    MalformedXml,
    ReplayedMessage,
    SafeModeRequired,
)
from storage.ephemeral import EphemeralStore


def clock() -> float:
    """The current time; tests replace it to replay WeChat's 2014 sample vectors."""
    return time.time()


@dataclass(frozen=True)
class CallbackQuery:
    """The query string WeChat sends with every callback."""

    signature: str
    timestamp: str
    nonce: str
    msg_signature: str = ""
    encrypt_type: str = ""
    echostr: str = ""

    @property
    def safe_mode(self) -> bool:
        """True when the body is AES-encrypted."""
        return self.encrypt_type.lower() == "aes"


def wechat_signature(*parts: str) -> str:
    """WeChat's SHA-1 over the lexicographically sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's


def verify_signature(expected_parts: tuple[str, ...], given: str) -> None:
    """Constant-time check of a WeChat signature; :class:`InvalidSignature` when it differs."""
    if not given or not same(wechat_signature(*expected_parts), given.lower()):
        raise InvalidSignature()


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The children of ``<xml>`` as a flat dict, parsed safely (no DTD, no entities)."""
    try:
        root: Element = fromstring(body, forbid_dtd=True, forbid_entities=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedXml() from exc
    if root.tag != "xml":
        raise MalformedXml()
    return {child.tag: (child.text or "") for child in root}


def _check_fresh(store: EphemeralStore, config: WeChatConfig, query: CallbackQuery) -> None:
    """Reject stale timestamps and reused (timestamp, nonce) pairs."""
    try:
        sent_at = int(query.timestamp)
    except ValueError as exc:
        raise ReplayedMessage("The timestamp is not a number.") from exc
    window = config.replay_window_s
    if abs(clock() - sent_at) > window:
        raise ReplayedMessage("The timestamp is outside the allowed window.")
    key = f"wechat:nonce:{config.oa_app_id}:{query.timestamp}:{query.nonce[:64]}"
    if not store.add(key, "1", ttl=2 * window + 60):
        raise ReplayedMessage("This message was already received.")


def _aes_key(config: WeChatConfig) -> bytes:
    return aes_key_from(config.encoding_aes_key)


def aes_key_from(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from WeChat's 43-character EncodingAESKey."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("WANGZHENG_WECHAT_ENCODING_AES_KEY must be 43 base64 characters")
    return key


def open_message(
    store: EphemeralStore, config: WeChatConfig, query: CallbackQuery, body: bytes
) -> dict[str, str]:
    """Authenticate, de-duplicate, decrypt and parse one callback body."""
    if config.encoding_aes_key and not query.safe_mode:
        raise SafeModeRequired()
    verify_signature((config.token, query.timestamp, query.nonce), query.signature)
    if query.safe_mode:
        envelope = parse_xml(body)
        encrypted = envelope.get("Encrypt", "")
        verify_signature(
            (config.token, query.timestamp, query.nonce, encrypted), query.msg_signature
        )
        _check_fresh(store, config, query)
        try:
            plain = PrpCrypto(_aes_key(config)).decrypt(encrypted, config.oa_app_id)
        except Exception as exc:  # any failure to decrypt is a bad message (re-raised)
            raise MalformedXml("The message could not be decrypted.") from exc
        return parse_xml(plain)
    _check_fresh(store, config, query)
    return parse_xml(body)


def verify_echo(config: WeChatConfig, query: CallbackQuery) -> str:
    """The ``echostr`` to answer a URL verification with (decrypted when it is encrypted)."""
    if query.msg_signature:
        verify_signature(
            (config.token, query.timestamp, query.nonce, query.echostr), query.msg_signature
        )
        try:
            return str(PrpCrypto(_aes_key(config)).decrypt(query.echostr, config.oa_app_id))
        except Exception as exc:
            raise MalformedXml("The echostr could not be decrypted.") from exc
    verify_signature((config.token, query.timestamp, query.nonce), query.signature)
    return query.echostr


def seal_reply(config: WeChatConfig, reply_xml: str, query: CallbackQuery) -> str:
    """Encrypt a passive reply for safe mode (WeChat's envelope with a fresh signature)."""
    crypto: Any = WeChatCrypto(config.token, config.encoding_aes_key, config.oa_app_id)
    return str(crypto.encrypt_message(reply_xml, query.nonce, str(int(clock()))))
