"""The MACs of the verification audit: a row's own MAC, its seal, and the pre-seal in-row chain.

Every MAC is HMAC-SHA256 under ``WANGZHENG_AUDIT_KEY`` over a compact JSON array, so the three
kinds (``"row"`` first, a parent MAC first, a seal's parent first) never collide.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

CHAINED_FIELDS = (
    "merchant_id",
    "credential_id",
    "at",
    "result",
    "reason",
    "scope",
    "disclosed",
    "level",
    "client_ip_hash",
    "jti_digest",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return value


def _mac(audit_key: bytes, body: list[Any]) -> str:
    message = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(audit_key, message, hashlib.sha256).hexdigest()


def own_mac(audit_key: bytes, fields: dict[str, Any]) -> str:
    """The MAC a row carries from its insert: every audited field, no place in the chain."""
    return _mac(audit_key, ["row", *(_canonical(fields.get(name)) for name in CHAINED_FIELDS)])


def seal_mac(audit_key: bytes, parent_mac: str, seq: int, audit_id: int, row_mac: str) -> str:
    """The MAC of a seal: the parent seal's MAC, the place, the row's id and its own MAC."""
    return _mac(audit_key, [parent_mac, seq, "seal", audit_id, row_mac])


def row_mac(audit_key: bytes, parent_mac: str, seq: int, fields: dict[str, Any]) -> str:
    """The in-row chain MAC of rows written before seals existed (migration 0012)."""
    return _mac(audit_key, [parent_mac, seq, *(_canonical(fields.get(n)) for n in CHAINED_FIELDS)])
