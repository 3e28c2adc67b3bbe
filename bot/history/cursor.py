"""The history's paging cursor: a position, bound to the citizen it was given to.

Invariants:
- A cursor names a position in one citizen's history ordered by (time, source, row id), newest
  first, and carries an HMAC (the hash key, purpose ``history_cursor``) over that position *and*
  the citizen's id. A cursor edited, made up, or given to another citizen is refused
  (:class:`CursorInvalid`, 400) before any query; comparison is constant-time.
- Even a valid cursor only moves the start of a query that is always scoped to the caller's own
  rows, so it can never read anyone else's history.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from bot.crypto import keyed_hash, same
from bot.errors import ValidationFailed

PURPOSE = "history_cursor"
MAX_CURSOR_CHARS = 200


class CursorInvalid(ValidationFailed):
    """The cursor was not given to this citizen by this server."""

    code = "cursor_invalid"
    message = "The cursor is not valid; start again from the first page."


@dataclass(frozen=True, order=True)
class Position:
    """A place in the merged history: (time, source rank, row id); later positions sort higher."""

    at: dt.datetime
    rank: int
    row_id: int


def _mac(hash_key: bytes, citizen_id: int, body: str) -> str:
    return keyed_hash(hash_key, f"{citizen_id}|{body}", PURPOSE)[:32]


def encode_cursor(hash_key: bytes, citizen_id: int, position: Position) -> str:
    """An opaque cursor for ``citizen_id`` resuming just after ``position``."""
    body = f"{position.at.astimezone(dt.UTC).isoformat()}|{position.rank}|{position.row_id}"
    packed = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{packed}.{_mac(hash_key, citizen_id, body)}"


def decode_cursor(hash_key: bytes, citizen_id: int, cursor: str) -> Position:
    """The position a cursor of ``citizen_id`` names, or :class:`CursorInvalid`."""
    packed, _, mac = cursor.partition(".")
    try:
        body = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorInvalid() from None
    if len(cursor) > MAX_CURSOR_CHARS or not same(mac, _mac(hash_key, citizen_id, body)):
        raise CursorInvalid()
    at, rank, row_id = body.split("|")
    return Position(dt.datetime.fromisoformat(at), int(rank), int(row_id))
