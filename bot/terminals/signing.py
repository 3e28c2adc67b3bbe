"""The terminal request signature: HMAC-SHA256 over method, path, timestamp, nonce, body hash.

The rule (``docs/terminals.md`` has a worked example)::

    canonical = METHOD + "\\n" + PATH_AND_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n"
                + hex(SHA-256(body bytes))
    signature = hex(HMAC-SHA256(key = the terminal key's ASCII bytes, canonical))

sent as ``X-WZ-Terminal`` (public id), ``X-WZ-Timestamp`` (Unix seconds), ``X-WZ-Nonce``
(16-64 of ``A-Za-z0-9_-``) and ``X-WZ-Signature`` (64 lower-case hex digits).

Invariants:
- Checks run in this order: header shapes, timestamp within :data:`WINDOW_S` of the app clock,
  an enabled terminal, the signature (constant-time), then the nonce. The nonce is spent only
  after the signature holds, so nobody can burn a terminal's nonces, and it is spent with the
  short-lived store's atomic ``add`` for twice the window: a replay inside the window meets the
  spent nonce, one outside it the timestamp check. Exactly one of N concurrent replays passes.
- Every failure is :class:`TerminalAuthInvalid` with the same message; the reason goes to the
  log, never the key, the signature or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.crypto import same
from bot.terminals.errors import TerminalAuthInvalid
from bot.terminals.registry import TerminalPrincipal
from storage.ephemeral import EphemeralStore

log = logging.getLogger(__name__)

WINDOW_S = 60
NONCE_PREFIX = "terminal-nonce:"
HEADER_TERMINAL = "X-WZ-Terminal"
HEADER_TIMESTAMP = "X-WZ-Timestamp"
HEADER_NONCE = "X-WZ-Nonce"
HEADER_SIGNATURE = "X-WZ-Signature"
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")

KeyLookup = Callable[[str], "tuple[TerminalPrincipal, bytes] | None"]


@dataclass(frozen=True)
class SignedRequest:
    """What the signature covers, as the server received it."""

    method: str
    path_and_query: str
    timestamp: str
    nonce: str
    body: bytes


def canonical_string(request: SignedRequest) -> bytes:
    """The bytes the terminal signs (see the module docstring)."""
    body_hash = hashlib.sha256(request.body).hexdigest()
    parts = (request.method.upper(), request.path_and_query, request.timestamp, request.nonce)
    return ("\n".join(parts) + "\n" + body_hash).encode()


def sign(key: str | bytes, request: SignedRequest) -> str:
    """The hex signature of ``request`` under ``key`` (terminals, tests and the simulator)."""
    raw_key = key.encode() if isinstance(key, str) else key
    return hmac.new(raw_key, canonical_string(request), hashlib.sha256).hexdigest()


def _refuse(reason: str, terminal: str = "") -> TerminalAuthInvalid:
    log.info("terminal request refused: %s terminal=%s", reason, terminal[:32] or "-")
    return TerminalAuthInvalid()


def verify_request(
    store: EphemeralStore,
    lookup: KeyLookup,
    headers: Mapping[str, str],
    method: str,
    path_and_query: str,
    body: bytes,
    now: float,
) -> TerminalPrincipal:
    """The terminal that signed this request, or raise :class:`TerminalAuthInvalid`."""
    terminal_id = headers.get(HEADER_TERMINAL, "")
    timestamp = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    signature = headers.get(HEADER_SIGNATURE, "")
    if not terminal_id or not TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise _refuse("missing or malformed headers")
    if not NONCE_PATTERN.fullmatch(nonce) or not SIGNATURE_PATTERN.fullmatch(signature):
        raise _refuse("malformed nonce or signature", terminal_id)
    if abs(now - int(timestamp)) > WINDOW_S:
        raise _refuse("stale timestamp", terminal_id)
    found = lookup(terminal_id)
    if found is None:
        raise _refuse("unknown or disabled terminal", terminal_id)
    principal, key = found
    expected = sign(key, SignedRequest(method, path_and_query, timestamp, nonce, body))
    if not same(expected, signature):
        raise _refuse("bad signature", terminal_id)
    if not store.add(f"{NONCE_PREFIX}{principal.public_id}:{nonce}", "1", 2 * WINDOW_S + 1):
        raise _refuse("replayed nonce", terminal_id)
    return principal
