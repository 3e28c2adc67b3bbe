"""Agencies that issue bills, and their API keys.

Invariants:
- A key is ``wza_`` + 256 random bits, printed once. Only a keyed digest is stored
  (HMAC-SHA256 under the merchant key pepper, domain-separated with ``agency_key`` so an agency
  key can never pass for a merchant key or the other way round).
- Authentication compares digests in constant time and refuses unknown and disabled agencies
  with the same error (no oracle).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import keyed_hash, same
from bot.errors import Conflict, ValidationFailed
from bot.payments.errors import AgencyKeyInvalid
from storage.models.payment_agency import PaymentAgency

KEY_PREFIX = "wza_"
MAX_KEY_CHARS = 128
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class AgencyPrincipal:
    """An authenticated agency."""

    id: int
    public_id: str
    name: str


def agency_key_digest(settings: Settings, api_key: str) -> str:
    """The stored digest of an agency key."""
    return keyed_hash(settings.merchant_key_pepper, api_key, "agency_key")


def create_agency(session: Session, settings: Settings, name: str) -> tuple[AgencyPrincipal, str]:
    """Create agency ``name`` (as catalogue items name it); returns it and its new key."""
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME_CHARS or not clean.isprintable():
        raise ValidationFailed("The agency name is empty, too long or not printable.")
    if session.scalar(select(PaymentAgency.id).where(PaymentAgency.name == clean)) is not None:
        raise Conflict("An agency with this name exists.", code="agency_exists")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = PaymentAgency(
        public_id="ag_" + secrets.token_hex(8),
        name=clean,
        key_hash=agency_key_digest(settings, api_key),
        key_hint=api_key[:10],
    )
    session.add(row)
    session.flush()
    return AgencyPrincipal(row.id, row.public_id, row.name), api_key


def authenticate_agency(session: Session, settings: Settings, api_key: str) -> AgencyPrincipal:
    """The enabled agency holding ``api_key``, or :class:`AgencyKeyInvalid`."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > MAX_KEY_CHARS:
        raise AgencyKeyInvalid()
    digest = agency_key_digest(settings, api_key)
    row = session.scalars(select(PaymentAgency).where(PaymentAgency.key_hash == digest)).first()
    if row is None or not row.enabled or not same(row.key_hash, digest):
        raise AgencyKeyInvalid()
    return AgencyPrincipal(row.id, row.public_id, row.name)
