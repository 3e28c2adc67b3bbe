"""Terminal accounts: create, list, disable, rotate the key, and look a terminal up to verify.

Invariants:
- A terminal key is ``wzt_`` + 256 random bits, shown once. It is stored sealed under the data
  key (purpose :data:`KEY_PURPOSE`, re-sealed by ``flask keys rotate-data-key``): an HMAC can
  only be checked with the key itself, so it cannot be stored as a one-way hash.
- :func:`terminal_key` refuses unknown and disabled terminals alike (None), so the signature
  check answers the same for both.
- Rotating a key replaces it at commit; requests signed with the old key then fail.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import seal_text, unseal_text
from bot.terminals.errors import TerminalNameInvalid, TerminalNotFound
from storage.models.base import utcnow
from storage.models.terminal import Terminal

KEY_PREFIX = "wzt_"
KEY_PURPOSE = "terminal.key"
PUBLIC_ID_PREFIX = "tm_"


@dataclass(frozen=True)
class TerminalView:
    """What an operator sees of a terminal (never the key)."""

    public_id: str
    name: str
    site: str
    enabled: bool
    key_hint: str
    created_at: dt.datetime


@dataclass(frozen=True)
class IssuedTerminalKey:
    """A terminal and its new key (shown once)."""

    terminal: TerminalView
    key: str


@dataclass(frozen=True)
class TerminalPrincipal:
    """An authenticated terminal, as the terminal API needs it."""

    id: int
    public_id: str
    name: str
    site: str


def _view(row: Terminal) -> TerminalView:
    return TerminalView(
        row.public_id, row.name, row.site, row.enabled, row.key_hint, row.created_at
    )


def _clean(text: str) -> str:
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 120 or not cleaned.isprintable():
        raise TerminalNameInvalid()
    return cleaned


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_terminal(
    session: Session, settings: Settings, *, name: str, site: str
) -> IssuedTerminalKey:
    """Register a terminal with a fresh key."""
    key = _new_key()
    row = Terminal(
        public_id=PUBLIC_ID_PREFIX + secrets.token_urlsafe(9),
        name=_clean(name),
        site=_clean(site),
        key_sealed=seal_text(settings.data_keyring, key, KEY_PURPOSE),
        key_hint=key[:10],
        enabled=True,
    )
    session.add(row)
    session.flush()
    return IssuedTerminalKey(_view(row), key)


def _get(session: Session, public_id: str) -> Terminal:
    row = session.scalars(select(Terminal).where(Terminal.public_id == public_id)).one_or_none()
    if row is None:
        raise TerminalNotFound()
    return row


def list_terminals(session: Session) -> list[TerminalView]:
    """Every terminal, oldest first."""
    return [_view(row) for row in session.scalars(select(Terminal).order_by(Terminal.id))]


def set_terminal_enabled(session: Session, public_id: str, enabled: bool) -> TerminalView:
    """Disable (or re-enable) a terminal; it is refused from the next request on."""
    row = _get(session, public_id)
    row.enabled = enabled
    row.disabled_at = None if enabled else utcnow()
    session.flush()
    return _view(row)


def rotate_terminal_key(session: Session, settings: Settings, public_id: str) -> IssuedTerminalKey:
    """Replace the terminal's key; the old one stops at commit."""
    row = _get(session, public_id)
    key = _new_key()
    row.key_sealed = seal_text(settings.data_keyring, key, KEY_PURPOSE)
    row.key_hint, row.key_rotated_at = key[:10], utcnow()
    session.flush()
    return IssuedTerminalKey(_view(row), key)


def terminal_key(
    session: Session, settings: Settings, public_id: str
) -> tuple[TerminalPrincipal, bytes] | None:
    """The enabled terminal ``public_id`` and its key, or None (unknown or disabled alike)."""
    if not public_id or len(public_id) > 32:
        return None
    row = session.scalars(select(Terminal).where(Terminal.public_id == public_id)).one_or_none()
    if row is None or not row.enabled:
        return None
    key = unseal_text(settings.data_keyring, row.key_sealed, KEY_PURPOSE).encode()
    return TerminalPrincipal(row.id, row.public_id, row.name, row.site), key
