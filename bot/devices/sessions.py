"""Mini-program sessions: open on login, rotate on refresh, resolve on every request.

Invariants:
- Concurrent sign-ins of one citizen are serialised by the database on the citizen's row
  (:func:`ensure_citizen`), so one device wins the binding and the other is signed out.
- Access and refresh tokens are 256-bit random values; only their SHA-256 digests are stored.
- A session is bound to one device: the principal carries the device id the session was opened
  for, and a citizen has one current device. Logging in on another device revokes every
  session of the previous device (reason ``device_changed``).
- Refresh rotates both tokens. Presenting a refresh token that was already rotated is a replay:
  the whole family is revoked and :class:`TokenReplayed` is raised.
- All writes happen in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.crypto import token_digest
from bot.devices.errors import SessionInvalid, TokenReplayed
from storage.models.app_session import AppSession
from storage.models.base import utcnow
from storage.models.citizen import Citizen

ACCESS_TTL = dt.timedelta(minutes=15)
REFRESH_TTL = dt.timedelta(days=30)


@dataclass(frozen=True)
class SessionTokens:
    """What the client receives after login or refresh."""

    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    citizen_id: int
    previous_device_id: str | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated citizen and the device the session belongs to."""

    citizen_id: int
    openid: str
    device_id: str
    session_id: int
    device_key_id: int | None = None

    @property
    def device_proven(self) -> bool:
        """True when the session's login proved possession of the device's key."""
        return self.device_key_id is not None


def _new_generation(
    session: Session, citizen: Citizen, device_id: str, family: str, device_key_id: int | None
) -> SessionTokens:
    """Create one session row and return its plaintext tokens."""
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    row = AppSession(
        citizen_id=citizen.id,
        device_id=device_id,
        device_key_id=device_key_id,
        family=family,
        access_digest=token_digest(access),
        refresh_digest=token_digest(refresh),
        access_expires_at=now + ACCESS_TTL,
        refresh_expires_at=now + REFRESH_TTL,
    )
    session.add(row)
    session.flush()
    return SessionTokens(access, refresh, row.access_expires_at, row.refresh_expires_at, citizen.id)


def revoke_device_sessions(session: Session, citizen_id: int, device_id: str, reason: str) -> int:
    """Revoke every live session of one device; returns how many."""
    result = session.execute(
        update(AppSession)
        .where(
            AppSession.citizen_id == citizen_id,
            AppSession.device_id == device_id,
            AppSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoke_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def ensure_citizen(session: Session, openid: str, unionid: str | None) -> Citizen:
    """The citizen row of ``openid``, created on first sight (flushed, so it has an id).

    The first statement writes the citizen's row, so concurrent sign-ins of one citizen run one
    after the other (PostgreSQL's row lock, SQLite's write lock) and each sees the binding the
    other left: exactly one device ends up bound, and the other's sessions are revoked. Two
    first sign-ins of a new openid meet the unique index instead (:class:`SignInConflict`).
    """
    session.execute(update(Citizen).where(Citizen.openid == openid).values(last_login_at=utcnow()))
    citizen = session.scalars(select(Citizen).where(Citizen.openid == openid)).one_or_none()
    if citizen is None:
        citizen = Citizen(openid=openid)
        session.add(citizen)
    citizen.unionid = unionid or citizen.unionid
    session.flush()
    return citizen


def open_session(
    session: Session,
    *,
    openid: str,
    unionid: str | None,
    device_id: str,
    device_model: str | None = None,
    device_key_id: int | None = None,
) -> SessionTokens:
    """Create or update the citizen for ``openid`` and open a session on ``device_id``.

    When the citizen's current device differs, its sessions are revoked and the old id is
    returned as ``previous_device_id``; :func:`bot.devices.rules.sign_in` applies the device
    rules (the old device's credential is revoked). WeChat's ``session_key`` is not kept.
    ``device_model`` (as the mini-program reports it) is kept with the current device.
    """
    citizen = ensure_citizen(session, openid, unionid)
    citizen.last_login_at = utcnow()
    previous = citizen.current_device_id
    session.flush()
    if previous and previous != device_id:
        revoke_device_sessions(session, citizen.id, previous, "device_changed")
    citizen.current_device_id = device_id
    citizen.current_device_model = (device_model or "")[:64] or None
    tokens = _new_generation(session, citizen, device_id, secrets.token_hex(16), device_key_id)
    changed = previous if previous and previous != device_id else None
    return SessionTokens(**{**tokens.__dict__, "previous_device_id": changed})


def refresh_session(session: Session, refresh_token: str) -> SessionTokens:
    """Rotate a session; a reused refresh token revokes its family."""
    row = session.scalars(
        select(AppSession).where(AppSession.refresh_digest == token_digest(refresh_token))
    ).one_or_none()
    now = utcnow()
    if row is None or (row.revoked_at is not None and not row.rotated):
        raise SessionInvalid("The refresh token is not valid.")
    if row.rotated:
        session.execute(
            update(AppSession)
            .where(AppSession.family == row.family, AppSession.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason="refresh_replayed")
        )
        raise TokenReplayed("This refresh token was already used; sign in again.")
    if row.refresh_expires_at <= now:
        raise SessionInvalid("The refresh token has expired.")
    citizen = session.get(Citizen, row.citizen_id)
    if citizen is None or citizen.current_device_id != row.device_id:
        raise SessionInvalid("This device is no longer signed in.")
    row.rotated = True
    row.revoked_at = now
    row.revoke_reason = "rotated"
    return _new_generation(session, citizen, row.device_id, row.family, row.device_key_id)


def authenticate(session: Session, access_token: str) -> Principal:
    """Resolve a bearer access token to its principal, or raise :class:`SessionInvalid`."""
    row = session.scalars(
        select(AppSession).where(AppSession.access_digest == token_digest(access_token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.access_expires_at <= utcnow():
        raise SessionInvalid("Sign in again.")
    citizen = session.get(Citizen, row.citizen_id)
    if citizen is None:
        raise SessionInvalid("Sign in again.")
    return Principal(citizen.id, citizen.openid, row.device_id, row.id, row.device_key_id)
