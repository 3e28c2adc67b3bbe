"""ES256 signing keys: lazy creation, rotation, the JWKS and a small verification cache.

Invariants:
- Private keys exist in clear only in process memory; at rest they are sealed under the data key.
- One key is current. The first one is created by ``flask db upgrade`` (at head) and, should the
  database have been created otherwise, by the first JWKS fetch or signature, whichever comes
  first: the JWKS is never empty, so a verifier can pin the key before any credential exists.
  Two workers racing to create it collide on the partial unique index and the loser reads the
  winner's key.
- :func:`rotate_keys` retires the current key (it stops signing at once) and keeps it verifying
  until ``now + signing_key_grace_s`` (at least the token lifetime plus skew).
- A key past ``verify_until`` is neither published in the JWKS nor accepted.
- The verification cache holds public keys only, for at most ``CACHE_SECONDS``; unknown kids are
  looked up at most once per ``CACHE_SECONDS`` each, so a flood of random kids costs one query each
  at worst and never a signature check.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import seal, unseal
from storage.models.base import utcnow
from storage.models.signing_key import SigningKey

PURPOSE = "signing_key"
ALGORITHM = "ES256"
CACHE_SECONDS = 30.0

_lock = threading.Lock()
_private_cache: dict[str, ec.EllipticCurvePrivateKey] = {}
_public_cache: dict[str, tuple[float, ec.EllipticCurvePublicKey | None, dt.datetime | None]] = {}


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs new tokens."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey


def clear_key_cache() -> None:
    """Forget cached keys (after a rotation in this process, and between tests)."""
    with _lock:
        _private_cache.clear()
        _public_cache.clear()


def _new_key_row(settings: Settings) -> tuple[SigningKey, ec.EllipticCurvePrivateKey]:
    """Generate a P-256 key and its row (not yet added)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    kid = "k" + secrets.token_urlsafe(6)
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    row = SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_sealed=seal(settings.data_key, der, PURPOSE),
        public_jwk=json.dumps(jwk, sort_keys=True),
        is_current=True,
    )
    return row, private_key


def _load_private(settings: Settings, row: SigningKey) -> ec.EllipticCurvePrivateKey:
    """Unseal (once per process) the private key of ``row``."""
    with _lock:
        cached = _private_cache.get(row.kid)
    if cached is not None:
        return cached
    der = unseal(settings.data_keyring, row.private_sealed, PURPOSE)
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("signing key is not an EC key")
    with _lock:
        _private_cache[row.kid] = key
    return key


def ensure_signing_key(session: Session, settings: Settings) -> SigningKey:
    """The current key's row, created (once, race-safe) when there is none."""
    row = session.scalars(select(SigningKey).where(SigningKey.is_current.is_(True))).one_or_none()
    if row is None:
        row, private_key = _new_key_row(settings)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = session.scalars(select(SigningKey).where(SigningKey.is_current.is_(True))).one()
        else:
            with _lock:
                _private_cache[row.kid] = private_key
    return row


def current_signing_key(session: Session, settings: Settings) -> ActiveKey:
    """The current key, created on first use."""
    row = ensure_signing_key(session, settings)
    return ActiveKey(row.kid, _load_private(settings, row))


def rotate_keys(session: Session, settings: Settings, now: dt.datetime | None = None) -> str:
    """Retire the current key (verifying until ``now + grace``) and add a new one; its kid."""
    now = now or utcnow()
    session.execute(
        update(SigningKey)
        .where(SigningKey.is_current.is_(True))
        .values(
            is_current=False,
            retired_at=now,
            verify_until=now + dt.timedelta(seconds=settings.signing_key_grace_s),
        )
    )
    session.flush()
    row, _ = _new_key_row(settings)  # loaded (and cached) on first use, after the cache clear
    session.add(row)
    session.flush()
    clear_key_cache()
    return row.kid


def _usable(now: dt.datetime) -> Any:
    """SQL condition: the key still verifies at ``now``."""
    return or_(SigningKey.verify_until.is_(None), SigningKey.verify_until > now)


def public_jwks(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """``{"keys": [...]}`` of every key that still verifies, newest first."""
    rows = session.scalars(
        select(SigningKey).where(_usable(now or utcnow())).order_by(SigningKey.id.desc())
    )
    return {"keys": [json.loads(row.public_jwk) for row in rows]}


def verification_key(
    session: Session, kid: str, now: dt.datetime | None = None
) -> ec.EllipticCurvePublicKey | None:
    """The public key for ``kid`` if it still verifies at ``now``, else None."""
    now = now or utcnow()
    clock = time.monotonic()
    with _lock:
        cached = _public_cache.get(kid)
    if cached is None or clock - cached[0] > CACHE_SECONDS:
        row = session.scalars(select(SigningKey).where(SigningKey.kid == kid)).one_or_none()
        key = None
        until = None
        if row is not None:
            loaded = ECAlgorithm.from_jwk(row.public_jwk)
            key = loaded if isinstance(loaded, ec.EllipticCurvePublicKey) else None
            until = row.verify_until
        with _lock:
            if len(_public_cache) > 1024:
                _public_cache.clear()
            _public_cache[kid] = (clock, key, until)
        cached = (clock, key, until)
    _, key, until = cached
    if key is None or (until is not None and until <= now):
        return None
    return key
