"""Errors of the WeChat domain.

Invariants:
- Every WeChat failure a client can see is one of these, with a stable ``code``; wechatpy's own
  exceptions never leave :mod:`bot.wechat`.
- Messages never contain WeChat's tokens, session keys, login codes or secrets; at most the
  numeric ``errcode`` that WeChat returned (in ``details``).
"""

from __future__ import annotations

from bot.errors import WangzhengError


class WeChatError(WangzhengError):
    """WeChat could not complete the request."""

    code = "wechat_error"
    status = 502


class InvalidSignature(WeChatError):
    """The WeChat signature does not match; the message was not processed."""

    code = "invalid_signature"
    status = 403


class SafeModeRequired(WeChatError):
    """An AES key is configured, so only safe-mode (encrypted) messages are accepted."""

    code = "safe_mode_required"
    status = 403


class ReplayedMessage(WeChatError):
    """This (timestamp, nonce) was already seen or is outside the allowed window."""

    code = "replayed_message"
    status = 403


class MalformedXml(WeChatError):
    """The XML body is not acceptable (malformed, or it declares a DTD or entities)."""

    code = "malformed_xml"
    status = 400


class BodyTooLarge(WeChatError):
    """The callback body is larger than allowed."""

    code = "payload_too_large"
    status = 413


class InvalidCode(WeChatError):
    """The mini-program login code is invalid or was already used (WeChat 40029/40163)."""

    code = "invalid_code"
    status = 401


class WeChatRateLimited(WeChatError):
    """WeChat limits how often this may be called (45011); try again in a moment."""

    code = "wechat_rate_limited"
    status = 429


class WeChatUnavailable(WeChatError):
    """WeChat is busy or unreachable (-1, timeout); the request can be retried."""

    code = "wechat_unavailable"
    status = 503


class WeChatQuotaExceeded(WeChatError):
    """The daily quota of this WeChat API is used up (45009); it resets at midnight."""

    code = "wechat_quota_exceeded"
    status = 503


class CardPackDisabled(WeChatError):
    """The WeChat card pack is switched off on this deployment."""

    code = "card_pack_disabled"
    status = 404


class DecryptFailed(WeChatError):
    """The mini-program data could not be decrypted with this session."""

    code = "decrypt_failed"
    status = 400
