"""``GET /api/v1/me/history``: the citizen's lifecycle and verifications, newest first, paged.

The service (:mod:`bot.history.view`) scopes every query to the caller; the cursor is signed
for the caller, so an edited or borrowed one is ``400 cursor_invalid``.
"""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database, settings
from bot.history.view import DEFAULT_PAGE, MAX_PAGE, HistoryEntry, history_page
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import CITIZEN_ERRORS, LevelField, Out, Timestamp

history = APIBlueprint("history", __name__, tag="History")

Kind = Literal[
    "credential_issued",
    "credential_ended",
    "credential_taken_over",
    "device_changed",
    "unlock_enabled",
    "unlock_disabled",
    "unlock_verified",
    "card_reported_lost",
    "verification",
]


class HistoryPageQuery(BaseModel):
    """Page size and where to resume (the ``next_cursor`` of the previous page)."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)


class SupersededOut(Out):
    """One of the citizen's own credentials that an issuance ended."""

    credential_id: str
    level: LevelField


class HistoryLineOut(Out):
    """One line; ``kind`` says which of the optional fields it carries."""

    kind: Kind
    at: Timestamp
    device_model: str | None
    credential_id: str | None = Field(default=None, description="the citizen's own credential")
    level: LevelField | None = None
    superseded: list[SupersededOut] | None = None
    superseded_other_account: bool | None = None
    status: str | None = None
    reason: str | None = Field(default=None, description="why it ended, or why it was refused")
    previous_device_model: str | None = None
    other_device_model: str | None = None
    method: str | None = Field(default=None, description="biometric unlock method")
    actor: Literal["citizen", "authority"] | None = None
    newly_reported: bool | None = None
    credentials_ended: int | None = None
    merchant: str | None = None
    category: str | None = None
    result: str | None = None
    scope: str | None = None
    disclosed: list[str] | None = Field(default=None, description="field names, never values")


class HistoryPageOut(Out):
    """Newest first; ``next_cursor`` is null on the last page."""

    entries: list[HistoryLineOut]
    next_cursor: str | None


def _line(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "at": entry.at.isoformat(),
        "device_model": entry.device_model,
        **entry.fields,
    }


@history.get("/api/v1/me/history")
@history.auth_required(citizen_auth)
@history.input(HistoryPageQuery, location="query", arg_name="query")
@history.output(HistoryPageOut)
@history.doc(
    summary="My history: issuances (and what each superseded), device changes, biometric unlock "
    "switched on or off, lost-card reports, deletions and verifications, newest first",
    responses={
        400: "validation_error: bad limit; cursor_invalid: a cursor not given to this citizen",
        **CITIZEN_ERRORS,
    },
)
def my_history(query: HistoryPageQuery) -> dict[str, Any]:
    """One page of the signed-in citizen's history."""
    principal = current_citizen()
    with database().transaction() as session:
        page = history_page(
            session, settings(), citizen_id=principal.citizen_id, openid=principal.openid,
            limit=query.limit, cursor=query.cursor,
        )  # fmt: skip
    return {"entries": [_line(entry) for entry in page.entries], "next_cursor": page.next_cursor}
