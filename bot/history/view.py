"""The citizen's history, newest first: the lifecycle log merged with the verification audit.

Invariants:
- Only the caller's rows: lifecycle lines of their citizen id, and verifications of credentials
  bound to their openid. The cursor (:mod:`bot.history.cursor`) is signed for the caller and only
  moves the start of those scoped queries.
- Order is (time, source, row id) descending, a total order, so pages neither skip nor repeat a
  line when new lines arrive while paging. A page holds at most :data:`MAX_PAGE` lines.
- Shown: kinds, times, device models, levels, reasons, the citizen's own credential ids, merchant
  display names and the *names* of the fields disclosed; never a value, ID number, openid or
  device id.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import unseal_text
from bot.history.cursor import Position, decode_cursor, encode_cursor
from bot.history.log import DETAIL_PURPOSE
from storage.models.citizen_event import CitizenEvent
from storage.models.credential import Credential
from storage.models.merchant import Merchant
from storage.models.verification_audit import VerificationAudit

MAX_PAGE = 100
DEFAULT_PAGE = 20
_VERIFICATION, _LIFECYCLE = 0, 1  # source ranks: at one instant, lifecycle lines sort first


@dataclass(frozen=True)
class HistoryEntry:
    """One line: its kind, time, device model, and the kind's own fields."""

    kind: str
    at: dt.datetime
    device_model: str | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HistoryPage:
    """Up to ``limit`` lines, and the cursor of the next page (None on the last)."""

    entries: list[HistoryEntry]
    next_cursor: str | None


def _after(
    at_column: Any, id_column: Any, rank: int, start: Position | None
) -> ColumnElement[bool]:
    """Rows strictly after ``start`` in the descending (time, rank, id) order."""
    if start is None:
        return true()
    if rank < start.rank:
        return at_column <= start.at  # type: ignore[no-any-return]
    if rank > start.rank:
        return at_column < start.at  # type: ignore[no-any-return]
    return or_(at_column < start.at, and_(at_column == start.at, id_column < start.row_id))


def _lifecycle(
    session: Session, settings: Settings, citizen_id: int, start: Position | None, limit: int
) -> list[tuple[Position, HistoryEntry]]:
    rows = session.scalars(
        select(CitizenEvent)
        .where(
            CitizenEvent.citizen_id == citizen_id,
            _after(CitizenEvent.occurred_at, CitizenEvent.id, _LIFECYCLE, start),
        )
        .order_by(CitizenEvent.occurred_at.desc(), CitizenEvent.id.desc())
        .limit(limit)
    ).all()
    found = []
    for row in rows:
        detail = json.loads(unseal_text(settings.data_keyring, row.detail_sealed, DETAIL_PURPOSE))
        model = detail.pop("device_model", None)
        entry = HistoryEntry(row.kind, row.occurred_at, model, detail)
        found.append((Position(row.occurred_at, _LIFECYCLE, row.id), entry))
    return found


def _issued_on(
    session: Session, settings: Settings, citizen_id: int, ids: set[str | None]
) -> dict[str | None, str | None]:
    """The device model each of the citizen's credentials was issued on (from their log)."""
    if not ids:
        return {}
    rows = session.scalars(
        select(CitizenEvent).where(
            CitizenEvent.citizen_id == citizen_id,
            CitizenEvent.kind == "credential_issued",
            CitizenEvent.credential_id.in_(ids),
        )
    ).all()
    return {
        row.credential_id: json.loads(
            unseal_text(settings.data_keyring, row.detail_sealed, DETAIL_PURPOSE)
        ).get("device_model")
        for row in rows
    }


def _verifications(
    session: Session,
    settings: Settings,
    citizen_id: int,
    openid: str,
    start: Position | None,
    limit: int,
) -> list[tuple[Position, HistoryEntry]]:
    rows = session.execute(
        select(VerificationAudit, Merchant.name, Merchant.category)
        .join(Credential, Credential.id == VerificationAudit.credential_id)
        .join(Merchant, Merchant.id == VerificationAudit.merchant_id)
        .where(
            Credential.openid == openid,
            _after(VerificationAudit.at, VerificationAudit.id, _VERIFICATION, start),
        )
        .order_by(VerificationAudit.at.desc(), VerificationAudit.id.desc())
        .limit(limit)
    ).all()
    models = _issued_on(
        session, settings, citizen_id, {audit.credential_id for audit, _n, _c in rows}
    )
    found = []
    for audit, name, category in rows:
        fields = {
            "merchant": name,
            "category": category,
            "result": audit.result,
            "reason": audit.reason,
            "scope": audit.scope,
            "disclosed": [part for part in audit.disclosed.split(",") if part],
            "credential_id": audit.credential_id,
        }
        entry = HistoryEntry("verification", audit.at, models.get(audit.credential_id), fields)
        found.append((Position(audit.at, _VERIFICATION, audit.id), entry))
    return found


def history_page(
    session: Session,
    settings: Settings,
    *,
    citizen_id: int,
    openid: str,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> HistoryPage:
    """One page of the citizen's history, newest first; see the module invariants."""
    limit = max(1, min(limit, MAX_PAGE))
    start = decode_cursor(settings.hash_key, citizen_id, cursor) if cursor else None
    merged = _lifecycle(session, settings, citizen_id, start, limit + 1) + _verifications(
        session, settings, citizen_id, openid, start, limit + 1
    )
    merged.sort(key=lambda pair: pair[0], reverse=True)
    page = merged[:limit]
    next_cursor = (
        encode_cursor(settings.hash_key, citizen_id, page[-1][0]) if len(merged) > limit else None
    )
    return HistoryPage([entry for _position, entry in page], next_cursor)
