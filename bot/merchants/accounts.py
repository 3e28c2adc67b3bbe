"""Merchant accounts: creation, key rotation, disabling, and authentication by API key.

Invariants:
- An API key is ``wzm_`` + 256 random bits, shown once. Only HMAC-SHA256(pepper, key) is
  stored: the key has full entropy, so a fast hash is enough against brute force, and the
  server-side pepper (``WANGZHENG_MERCHANT_KEY_PEPPER``, not in the database) makes a stolen
  database alone useless for checking guesses. A slow password hash would only cost latency on
  every verify call.
- Authentication looks the digest up, compares it in constant time, and refuses disabled
  merchants with the same error as unknown keys (no oracle).
- Scopes are validated against the category: ``full_identity`` only for hotel, bank, government.
- :func:`authenticate_merchant_cached` keeps a successful lookup in the short-lived store for
  ``AUTH_CACHE_SECONDS`` (keyed by the digest, never the key). Rotating, disabling or
  enabling a key deletes that entry once the change commits (registered by :func:`rotate_key`
  and :func:`set_enabled` themselves with :func:`bot.events.after_commit`, so no caller can
  forget it), and the change applies at once; a request racing the commit can re-cache the old
  state for at most ``AUTH_CACHE_SECONDS``.
- It also counts the call in the key's rate-limit window (:func:`rate_counter`) in the same
  store round trip as the cache read; a key that fails authentication is never counted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import same
from bot.events import after_commit
from bot.merchants.errors import CategoryInvalid, MerchantKeyInvalid, MerchantNotFound, ScopeInvalid
from bot.vocab import REGISTRATION_CATEGORIES, Capability, MerchantCategory, Scope
from storage.db import Database
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow
from storage.models.merchant import Merchant

KEY_PREFIX = "wzm_"
MAX_KEY_CHARS = 128
AUTH_CACHE_PREFIX = "merchant-auth:"
AUTH_CACHE_SECONDS = 10
RATE_WINDOW_S = 60


@dataclass(frozen=True)
class MerchantPrincipal:
    """An authenticated merchant, as the verify service needs it."""

    id: int
    public_id: str
    name: str
    category: MerchantCategory
    scopes: tuple[Scope, ...]
    pseudonym_salt: bytes


@dataclass(frozen=True)
class MerchantView:
    """What the admin API shows of a merchant (never the key or its hash)."""

    public_id: str
    name: str
    category: MerchantCategory
    scopes: tuple[Scope, ...]
    enabled: bool
    key_hint: str
    created_at: str
    capabilities: tuple[Capability, ...] = ()


@dataclass(frozen=True)
class IssuedKey:
    """A merchant and its new API key (shown once)."""

    merchant: MerchantView
    api_key: str


def key_digest(settings: Settings, api_key: str) -> str:
    """HMAC-SHA256(pepper, key), hex."""
    return hmac.new(settings.merchant_key_pepper, api_key.encode(), hashlib.sha256).hexdigest()


def validate_scopes(category: str, scopes: list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """Ordered, de-duplicated scopes (``result`` always included) or raise."""
    if category not in tuple(MerchantCategory):
        raise CategoryInvalid(f"Category must be one of {', '.join(MerchantCategory)}.")
    unknown = [s for s in scopes if s not in tuple(Scope)]
    if unknown:
        raise ScopeInvalid(f"Scopes must be among {', '.join(Scope)}.")
    if Scope.FULL_IDENTITY in scopes and category not in REGISTRATION_CATEGORIES:
        raise ScopeInvalid("full_identity is only for hotel, bank and government merchants.")
    return tuple(s for s in Scope if s in scopes or s == Scope.RESULT)


def _scopes(stored: str) -> tuple[Scope, ...]:
    return tuple(Scope(scope) for scope in stored.split(","))


def _view(row: Merchant) -> MerchantView:
    return MerchantView(
        row.public_id,
        row.name,
        MerchantCategory(row.category),
        _scopes(row.scopes),
        row.enabled,
        row.key_hint,
        row.created_at.isoformat(),
        tuple(c for c in Capability if c.value in (row.capabilities or "").split(",")),
    )


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_merchant(
    session: Session, settings: Settings, *, name: str, category: str, scopes: list[str]
) -> IssuedKey:
    """Create a merchant with a fresh API key."""
    granted = validate_scopes(category, scopes)
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 120 or not clean_name.isprintable():
        raise ScopeInvalid("The name must be 1 to 120 printable characters.", code="name_invalid")
    api_key = _new_key()
    row = Merchant(
        public_id="m_" + secrets.token_urlsafe(9),
        name=clean_name,
        category=category,
        scopes=",".join(granted),
        key_hash=key_digest(settings, api_key),
        key_hint=api_key[:10],
        pseudonym_salt=secrets.token_bytes(32),
        enabled=True,
    )
    session.add(row)
    session.flush()
    return IssuedKey(_view(row), api_key)


def _get(session: Session, public_id: str) -> Merchant:
    row = session.scalars(select(Merchant).where(Merchant.public_id == public_id)).one_or_none()
    if row is None:
        raise MerchantNotFound()
    return row


def rotate_key(
    session: Session, settings: Settings, store: EphemeralStore, public_id: str
) -> IssuedKey:
    """Replace the merchant's key; the old key stops working at commit."""
    row = _get(session, public_id)
    old = row.key_hash
    api_key = _new_key()
    row.key_hash, row.key_hint, row.key_rotated_at = (
        key_digest(settings, api_key),
        api_key[:10],
        utcnow(),
    )
    session.flush()
    after_commit(session, lambda: forget_key(store, old))
    return IssuedKey(_view(row), api_key)


def set_enabled(
    session: Session, store: EphemeralStore, public_id: str, enabled: bool
) -> MerchantView:
    """Disable (or re-enable) a merchant; its cached authentication goes at commit."""
    row = _get(session, public_id)
    row.enabled = enabled
    row.disabled_at = None if enabled else utcnow()
    session.flush()
    key_hash = row.key_hash
    after_commit(session, lambda: forget_key(store, key_hash))
    return _view(row)


def _cache_key(digest: str) -> str:
    # The digest in braces is a Redis Cluster hash tag: cache entry and counter share a slot.
    return AUTH_CACHE_PREFIX + "{" + digest + "}"


def rate_counter(digest: str, window: int) -> str:
    """The store key counting calls made with one API key in one fixed window."""
    return "ratelimit:verify:{" + digest + "}:" + str(window)


def forget_key(store: EphemeralStore, key_hash: str) -> None:
    """Drop the cached authentication of ``key_hash`` (run after the change commits)."""
    if key_hash:
        store.delete(_cache_key(key_hash))


def list_merchants(session: Session) -> list[MerchantView]:
    """Every merchant, oldest first."""
    return [_view(row) for row in session.scalars(select(Merchant).order_by(Merchant.id))]


def get_merchant(session: Session, public_id: str) -> MerchantView:
    """One merchant, or :class:`MerchantNotFound`."""
    return _view(_get(session, public_id))


def authenticate_merchant(session: Session, settings: Settings, api_key: str) -> MerchantPrincipal:
    """The enabled merchant owning ``api_key``, else :class:`MerchantKeyInvalid`."""
    if not api_key or len(api_key) > MAX_KEY_CHARS:
        raise MerchantKeyInvalid()
    digest = key_digest(settings, api_key)
    row = session.scalars(select(Merchant).where(Merchant.key_hash == digest)).one_or_none()
    if row is None or not same(row.key_hash, digest) or not row.enabled:
        raise MerchantKeyInvalid()
    return MerchantPrincipal(
        row.id,
        row.public_id,
        row.name,
        MerchantCategory(row.category),
        _scopes(row.scopes),
        row.pseudonym_salt,
    )


@dataclass(frozen=True)
class CountedCall:
    """An authenticated merchant and how many calls its key made in the current window."""

    merchant: MerchantPrincipal
    calls_in_window: int
    prefetched: dict[str, str | None]


def authenticate_merchant_cached(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    api_key: str,
    window: int,
    prefetch: Sequence[str] = (),
) -> CountedCall:
    """:func:`authenticate_merchant` with a short-lived cache of successful lookups, counting
    the call in rate window ``window`` and reading the ``prefetch`` keys the request will need
    (one store round trip when the cache holds the key)."""
    if not api_key or len(api_key) > MAX_KEY_CHARS:
        raise MerchantKeyInvalid()
    digest = key_digest(settings, api_key)
    counter = rate_counter(digest, window)
    cached, calls, values = store.get_and_count(
        _cache_key(digest), counter, RATE_WINDOW_S + 1, prefetch
    )
    prefetched = dict(zip(prefetch, values, strict=True))
    if cached:
        data = json.loads(cached)
        principal = MerchantPrincipal(
            data["id"], data["public_id"], data["name"], MerchantCategory(data["category"]),
            tuple(Scope(scope) for scope in data["scopes"]), bytes.fromhex(data["salt"]),
        )  # fmt: skip
        return CountedCall(principal, calls, prefetched)
    with database.transaction() as session:
        principal = authenticate_merchant(session, settings, api_key)
    payload = {
        "id": principal.id, "public_id": principal.public_id, "name": principal.name,
        "category": principal.category, "scopes": list(principal.scopes),
        "salt": principal.pseudonym_salt.hex(),
    }  # fmt: skip
    store.set(_cache_key(digest), json.dumps(payload), AUTH_CACHE_SECONDS)
    return CountedCall(principal, store.incr(counter, RATE_WINDOW_S + 1), prefetched)
