"""Terminal sessions: the terminal opens one, the citizen claims it, the terminal polls it.

A session lives :data:`SESSION_TTL_S` in the short-lived store, as JSON under its id. Its QR
payload is ``WZT1.<session id>.<claim secret>``; only the secret's digest is stored.

Invariants:
- Steps only move forward: ``open`` -> ``claimed`` (one citizen, atomically: ``add`` on the
  claim key, so of two concurrent claims exactly one wins) -> ``ready`` (the claimer set a
  password; its argon2id hash, never the password, is kept) -> ``issued`` (single use: the
  issuing terminal takes the issue key with ``add``; a failed check gives it back so the terminal
  may read the card again, a success keeps it until the session expires).
- Expiry is judged on the app clock (``expires_at`` in the record) as well as the store's TTL,
  so tests move time on every store.
- Only the terminal that opened a session may poll or complete it; only its claimer may set the
  password. Anyone else gets ``terminal_session_not_found`` (no oracle).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, replace

from bot.crypto import same, token_digest
from bot.terminals.errors import SessionAlreadyClaimed, SessionNotFound, SessionNotReady
from bot.vocab import TerminalSessionStatus
from storage.ephemeral import EphemeralStore

SESSION_TTL_S = 300
PREFIX = "terminal-session:"
QR_VERSION = "WZT1"


@dataclass(frozen=True)
class TerminalSession:
    """One session as stored."""

    session_id: str
    terminal_id: str
    expires_at: float
    claim_digest: str
    status: str = TerminalSessionStatus.OPEN
    citizen_id: int | None = None
    openid: str | None = None
    device_id: str | None = None
    claimed_name: str | None = None
    password_hash: str | None = None
    # Keyed digests of the dates the password spells (bot.terminals.passwords.dates_spelled),
    # to refuse the birth date once the chip tells it; they live as long as the session.
    password_date_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenedSession:
    """What the terminal shows: the QR payload, and when the session ends."""

    session: TerminalSession
    qr_payload: str


def _load(store: EphemeralStore, session_id: str, now: float) -> TerminalSession:
    raw = store.get(PREFIX + session_id) if 0 < len(session_id) <= 64 else None
    if raw is None:
        raise SessionNotFound()
    fields = json.loads(raw)
    fields["password_date_digests"] = tuple(fields.get("password_date_digests", ()))
    session = TerminalSession(**fields)
    if session.expires_at <= now:
        raise SessionNotFound()
    return session


def save_session(store: EphemeralStore, session: TerminalSession, now: float) -> None:
    ttl = max(1.0, session.expires_at - now)
    store.set(PREFIX + session.session_id, json.dumps(asdict(session)), ttl)


def open_session(store: EphemeralStore, terminal_id: str, now: float) -> OpenedSession:
    """A new session for ``terminal_id``."""
    session_id, secret = "ts_" + secrets.token_urlsafe(12), secrets.token_urlsafe(16)
    session = TerminalSession(session_id, terminal_id, now + SESSION_TTL_S, token_digest(secret))
    save_session(store, session, now)
    return OpenedSession(session, f"{QR_VERSION}.{session_id}.{secret}")


def terminal_session(
    store: EphemeralStore, terminal_id: str, session_id: str, now: float
) -> TerminalSession:
    """The session, for the terminal that opened it only."""
    session = _load(store, session_id, now)
    if not same(session.terminal_id, terminal_id):
        raise SessionNotFound()
    return session


def claim_session(
    store: EphemeralStore,
    qr_payload: str,
    *,
    citizen_id: int,
    openid: str,
    device_id: str,
    claimed_name: str | None,
    now: float,
) -> TerminalSession:
    """Claim the session behind a scanned QR for this citizen and device (once)."""
    version, _, rest = qr_payload.partition(".")
    session_id, _, secret = rest.partition(".")
    if version != QR_VERSION or not session_id or not secret:
        raise SessionNotFound()
    session = _load(store, session_id, now)
    if not same(session.claim_digest, token_digest(secret)):
        raise SessionNotFound()
    ttl = max(1.0, session.expires_at - now)
    if not store.add(PREFIX + session_id + ":claim", str(citizen_id), ttl):
        raise SessionAlreadyClaimed()
    claimed = replace(
        session,
        status=TerminalSessionStatus.CLAIMED,
        citizen_id=citizen_id,
        openid=openid,
        device_id=device_id,
        claimed_name=claimed_name,
    )
    save_session(store, claimed, now)
    return claimed


def set_session_password(
    store: EphemeralStore,
    session_id: str,
    citizen_id: int,
    password_hash: str,
    now: float,
    date_digests: tuple[str, ...] = (),
) -> TerminalSession:
    """Keep the claimer's password hash; the session is then ready for the card."""
    with store.lock(PREFIX + session_id, ttl=5, wait=5):
        session = _load(store, session_id, now)
        if session.citizen_id != citizen_id:
            raise SessionNotFound()
        if store.get(PREFIX + session_id + ":issue") is not None:
            raise SessionNotReady("The card is being read; the password can no longer change.")
        ready = replace(
            session,
            status=TerminalSessionStatus.READY,
            password_hash=password_hash,
            password_date_digests=date_digests,
        )
        save_session(store, ready, now)
        return ready


def begin_issue(
    store: EphemeralStore, terminal_id: str, session_id: str, now: float
) -> TerminalSession:
    """Take the session's single issuance for this terminal, or raise why not."""
    with store.lock(PREFIX + session_id, ttl=5, wait=5):
        session = terminal_session(store, terminal_id, session_id, now)
        if session.status == TerminalSessionStatus.ISSUED:
            raise SessionNotReady("This session was already used; open a new one.")
        if session.status != TerminalSessionStatus.READY or session.password_hash is None:
            raise SessionNotReady("The citizen has not claimed the session and set a password.")
        if not store.add(PREFIX + session_id + ":issue", "1", max(1.0, session.expires_at - now)):
            raise SessionNotReady("This session is being used by another request.")
        return session


def end_issue(store: EphemeralStore, session: TerminalSession, issued: bool, now: float) -> None:
    """Mark the session used after a success; give the issuance back after a refusal."""
    if issued:
        save_session(store, replace(session, status=TerminalSessionStatus.ISSUED), now)
    else:
        store.delete(PREFIX + session.session_id + ":issue")
