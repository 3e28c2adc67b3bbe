"""Presentation tokens: the short JWT a pass QR carries, and its checks.

Invariants:
- A token is ES256 over ``{iss, jti, iat, exp, cid, lvl}`` (plus ``amr: ["pwd"]`` when the
  citizen entered the upgraded credential's password for it) with ``kid`` in the header, and
  nothing else: no name, no ID number, no credential id. ``cid`` is a fresh random handle per
  presentation; the store maps it to (credential id, device id) for the token's lifetime plus
  skew, so merchants cannot link two presentations by any claim.
- Tokens are minted only for the device the credential is bound to (constant-time check).
- :func:`decode_presentation` accepts only ES256 (explicit allow-list, checked before any key
  is used), only a well-formed (``KID_PATTERN``), known, still-valid ``kid``, and
  ``iat``/``exp`` within ``presentation_skew_s``.
  Every failure raises :class:`PresentationRejected` with a stable reason code.
- Single use (``jti``) is enforced by the verifier (``bot.merchants.verify``), not here.
- :func:`peek_handle` reads ``cid`` from a token *without* checking it, only so the verifier can
  fetch the handle in a round trip it makes anyway; nothing read that way is trusted before
  :func:`decode_presentation` has checked the signature over that very ``cid``.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.utils import base64url_decode
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import DeviceNotBound, NoActiveCredential, PresentationRejected
from bot.credentials.keys import ALGORITHM, current_signing_key, verification_key
from bot.credentials.service import active_credential
from bot.crypto import same
from bot.vocab import Level, VerifyReason
from storage.ephemeral import EphemeralStore
from storage.models.base import utcnow

ALLOWED_ALGORITHMS = (ALGORITHM,)
MAX_TOKEN_CHARS = 1024
HANDLE_PREFIX = "presentation:"
REQUIRED_CLAIMS = ["iss", "jti", "iat", "exp", "cid", "lvl"]
# Our kids are "k" + token_urlsafe; anything else (a NUL, a control character) is refused before
# it reaches a query (PostgreSQL cannot even compare text holding NUL).
KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# An unpadded base64url segment (never of length 1 mod 4, which no byte string encodes to).
BASE64URL_SEGMENT = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?")
# RFC 8176: the citizen entered the upgraded credential's password for this token.
PASSWORD_AMR = "pwd"  # noqa: S105 - an authentication method name, not a password
# RFC 8176: a WeChat SOTER unlock on the phone's biometric hardware just before the token.
FINGERPRINT_AMR = "fpt"
FACE_AMR = "face"
BIOMETRIC_AMRS = (FINGERPRINT_AMR, FACE_AMR)


@dataclass(frozen=True)
class Presentation:
    """A freshly minted token, when it expires, and the level of the credential it presents."""

    token: str
    expires_at: dt.datetime
    level: str


@dataclass(frozen=True)
class PresentationClaims:
    """The verified claims of a token."""

    jti: str
    cid: str
    level: str
    issued_at: int
    expires_at: int
    kid: str
    amr: tuple[str, ...] = ()


def handle_ttl(settings: Settings) -> int:
    """How long single-use and handle entries live: the token lifetime plus twice the skew."""
    return settings.presentation_ttl_s + 2 * settings.presentation_skew_s


def mint_presentation(
    session: Session,
    store: EphemeralStore,
    settings: Settings,
    *,
    openid: str,
    device_id: str,
    amr: tuple[str, ...] = (),
) -> Presentation:
    """Sign a token for the citizen's active credential, only from its bound device.

    ``amr`` (authentication methods, RFC 8176) is set only by a caller that checked them, e.g.
    ``("pwd",)`` after :func:`bot.terminals.factors.password_presentation` checked the password.
    """
    credential = active_credential(session, openid)
    if credential is None or credential.expires_at <= utcnow():
        raise NoActiveCredential()
    if not same(credential.device_id, device_id):
        raise DeviceNotBound()
    key = current_signing_key(session, settings)
    now = int(utcnow().timestamp())
    expires = now + settings.presentation_ttl_s
    handle = secrets.token_urlsafe(8)
    store.set(handle_key(handle), f"{credential.id}|{device_id}", handle_ttl(settings))
    claims = {
        "iss": settings.token_issuer,
        "jti": secrets.token_urlsafe(8),
        "iat": now,
        "exp": expires,
        "cid": handle,
        "lvl": credential.level,
    }
    if amr:
        claims["amr"] = list(amr)
    token = jwt.encode(
        claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": None}
    )
    return Presentation(token, dt.datetime.fromtimestamp(expires, dt.UTC), credential.level)


def handle_key(handle: str) -> str:
    """The store key of a presentation handle."""
    return HANDLE_PREFIX + handle


def peek_handle(token: object) -> str | None:
    """The unverified ``cid`` of a well-formed token, or None; see the module invariants."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        return None
    payload = _segment_json(token, 1)
    cid = payload.get("cid") if payload is not None else None
    return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else None


def resolve_handle(
    store: EphemeralStore, handle: str, prefetched: Mapping[str, str | None] | None = None
) -> tuple[str, str] | None:
    """(credential id, device id) behind a token's ``cid``, or None once it has lapsed; read
    from ``prefetched`` when it holds the handle's key, else from the store."""
    key = handle_key(handle)
    value = prefetched[key] if prefetched is not None and key in prefetched else store.get(key)
    if not value or "|" not in value:
        return None
    credential_id, _, device_id = value.partition("|")
    return credential_id, device_id


def _segment_json(token: str, index: int) -> dict[str, Any] | None:
    """Segment ``index`` of a three-segment token decoded as a JSON object (strict unpadded
    base64url), unverified; None if it is not one."""
    segment = token.split(".", 2)[index]
    if not BASE64URL_SEGMENT.fullmatch(segment):
        return None
    try:
        value = json.loads(base64url_decode(segment))
    except (ValueError, TypeError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None


def _header(token: str) -> dict[str, Any]:
    """The unverified header (only to pick the algorithm and key), or ``malformed``.

    Only the header segment is decoded here: ``jwt.decode`` then checks the whole token again,
    header included, against the key this header named, so the token is parsed once, not
    twice as with ``jwt.get_unverified_header`` (which decodes every segment).
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise PresentationRejected(VerifyReason.MALFORMED)
    if token.count(".") != 2:
        raise PresentationRejected(VerifyReason.MALFORMED)
    header = _segment_json(token, 0)
    if header is None:
        raise PresentationRejected(VerifyReason.MALFORMED)
    return header


def decode_presentation(
    session: Session, settings: Settings, token: str, now: dt.datetime | None = None
) -> PresentationClaims:
    """Verify signature, key, issuer and times; raise :class:`PresentationRejected` otherwise."""
    header = _header(token)
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise PresentationRejected(VerifyReason.BAD_SIGNATURE)
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise PresentationRejected(VerifyReason.MALFORMED)
    key = verification_key(session, kid, now)
    if key is None:
        raise PresentationRejected(VerifyReason.UNKNOWN_KEY)
    moment = (now or utcnow()).timestamp()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(ALLOWED_ALGORITHMS),
            issuer=settings.token_issuer,
            leeway=settings.presentation_skew_s,
            options={"require": REQUIRED_CLAIMS, "verify_iat": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise PresentationRejected(VerifyReason.EXPIRED) from exc
    except jwt.InvalidSignatureError as exc:
        raise PresentationRejected(VerifyReason.BAD_SIGNATURE) from exc
    except jwt.PyJWTError as exc:
        raise PresentationRejected(VerifyReason.MALFORMED) from exc
    return _checked_claims(settings, claims, kid, moment)


def _checked_claims(
    settings: Settings, claims: dict[str, Any], kid: str, moment: float
) -> PresentationClaims:
    """Types, lifetime and clock checks that pyjwt does not do for us."""
    jti, cid, level = claims.get("jti"), claims.get("cid"), claims.get("lvl")
    amr = claims.get("amr", [])
    if not isinstance(amr, list) or len(amr) > 4 or not all(amr_ok(method) for method in amr):
        raise PresentationRejected(VerifyReason.MALFORMED)
    iat, exp = claims.get("iat"), claims.get("exp")
    texts_ok = all(isinstance(v, str) and 0 < len(v) <= 64 for v in (jti, cid))
    if not texts_ok or level not in tuple(Level):
        raise PresentationRejected(VerifyReason.MALFORMED)
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise PresentationRejected(VerifyReason.MALFORMED)
    skew = settings.presentation_skew_s
    if exp - iat > settings.presentation_ttl_s or exp <= iat:
        raise PresentationRejected(VerifyReason.MALFORMED)
    if iat > moment + skew:
        raise PresentationRejected(VerifyReason.MALFORMED)
    if exp + skew <= moment:
        raise PresentationRejected(VerifyReason.EXPIRED)
    return PresentationClaims(str(jti), str(cid), str(level), iat, exp, kid, tuple(amr))


def amr_ok(method: object) -> bool:
    """An ``amr`` entry we could have written: a short lower-case word."""
    return isinstance(method, str) and 0 < len(method) <= 16 and method.isalpha()
