"""The trusted-terminal API (``/api/v1/terminal/...``), signed by the terminal on every request.

Invariants:
- Authentication is :data:`handlers.auth.terminal_auth` (HMAC over the whole request) and runs
  before the body is parsed; the chip photo, the live capture, the ID number and the name are
  read into memory, handed to :mod:`bot.terminals.issue` and dropped, never logged.
- A terminal only ever sees its own sessions, and of the citizen only a masked name.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from apiflask import APIBlueprint
from apiflask.fields import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import clock, database, settings, store
from bot.face.service import get_engine
from bot.terminals.chip import CHIP_PHOTO_MAX_BYTES, ChipData, ChipPhotoTooLarge
from bot.terminals.issue import issue_upgraded
from bot.terminals.sessions import TerminalSession, open_session, terminal_session
from bot.vocab import CredentialStatus
from bot.wechat.app import wechat_config
from handlers.auth import current_terminal, terminal_auth
from handlers.schemas import (
    BODY_ERRORS,
    CredentialStatusField,
    LevelField,
    Out,
    TerminalSessionStatusField,
    Timestamp,
)

terminals = APIBlueprint("terminals", __name__, tag="Terminals", url_prefix="/api/v1/terminal")
MAX_WAIT_S = 20
POLL_EVERY_S = 0.2
LIVE_FACE_MAX_BYTES = 5 * 1024 * 1024
TERMINAL_ERRORS = {401: "terminal_auth_invalid: unsigned, badly signed, stale, replayed, or from "
                   "an unknown or disabled terminal"}  # fmt: skip
SESSION_ERRORS = {
    **TERMINAL_ERRORS,
    404: "terminal_session_not_found: unknown, expired, or another terminal's session",
}


class SessionOut(Out):
    """A terminal session: its id, the QR to show (when just opened), status and claimer."""

    session_id: str
    status: TerminalSessionStatusField
    expires_at: Timestamp
    qr_payload: str | None = Field(default=None, description="only when the session is opened")
    claimed_by: str | None = Field(description="the claimer's masked name, if known")
    password_set: bool


class PollQuery(BaseModel):
    """Long-poll: wait up to ``wait`` seconds for the status to differ from ``seen``."""

    model_config = ConfigDict(extra="forbid")

    wait: int = Field(default=0, ge=0, le=MAX_WAIT_S)
    seen: TerminalSessionStatusField | None = None


class CardForm(BaseModel):
    """Multipart form: the chip data of the ID card, and optionally a live face capture."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(min_length=1, max_length=64)
    id_number: str = Field(min_length=15, max_length=18)
    expires_on: dt.date
    photo: UploadFile
    live_face: UploadFile | None = None


class UpgradedOut(Out):
    """The upgraded credential just issued to the citizen who claimed the session."""

    level: LevelField
    status: CredentialStatusField
    issued_at: Timestamp
    expires_at: Timestamp
    face_similarity: float | None = Field(description="live face vs chip photo, when sent")


def _session_body(session: TerminalSession, qr_payload: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_id": session.session_id,
        "status": session.status,
        "expires_at": dt.datetime.fromtimestamp(session.expires_at, dt.UTC).isoformat(),
        "claimed_by": session.claimed_name,
        "password_set": session.password_hash is not None,
    }
    if qr_payload is not None:
        body["qr_payload"] = qr_payload
    return body


@terminals.post("/sessions")
@terminals.auth_required(terminal_auth)
@terminals.output(SessionOut, status_code=201)
@terminals.doc(summary="Open a session and get its QR payload", responses=TERMINAL_ERRORS)
def open_terminal_session() -> tuple[dict[str, Any], int]:
    """A new single-use session of a few minutes for this terminal."""
    opened = open_session(store(), current_terminal().public_id, clock()())
    return _session_body(opened.session, opened.qr_payload), 201


@terminals.get("/sessions/<session_id>")
@terminals.auth_required(terminal_auth)
@terminals.input(PollQuery, location="query", arg_name="query")
@terminals.output(SessionOut)
@terminals.doc(
    summary="Poll (or long-poll with ?wait=) a session: status and the claimer's masked name",
    responses={**SESSION_ERRORS, 400: "validation_error: bad wait or seen"},
)
def poll_terminal_session(session_id: str, query: PollQuery) -> dict[str, Any]:
    """The session now, or as soon as its status differs from ``seen`` (at most ``wait`` s)."""
    terminal_id = current_terminal().public_id
    deadline = time.monotonic() + query.wait
    while True:
        session = terminal_session(store(), terminal_id, session_id, clock()())
        if query.seen is None or session.status != query.seen or time.monotonic() >= deadline:
            return _session_body(session)
        time.sleep(POLL_EVERY_S)


def _read(upload: UploadFile, limit: int, too_large: Exception) -> bytes:
    data: bytes = upload.stream.read(limit + 1)
    upload.close()
    if len(data) > limit:
        raise too_large
    return data


@terminals.post("/sessions/<session_id>/card")
@terminals.auth_required(terminal_auth)
@terminals.input(CardForm, location="form_and_files")
@terminals.output(UpgradedOut, status_code=201)
@terminals.doc(
    summary="Post the ID card chip data; issue the upgraded credential to the claimer",
    responses={
        **BODY_ERRORS,
        **SESSION_ERRORS,
        400: "validation_error, image_invalid",
        409: "terminal_session_not_ready (not claimed, no password, already used, or the phone "
        "changed), id_card_expired, id_card_reported_lost, enrolment_in_progress",
        413: "payload_too_large, chip_photo_too_large, image_too_large",
        422: "chip_data_mismatch (unknown ID number, another name or another card), "
        "chip_photo_invalid, password_weak (the password is the birth date: set another), "
        "face_mismatch, or a face quality code of the live capture",
        503: "face_model_unavailable",
    },
)
def post_card(session_id: str, form_and_files_data: CardForm) -> tuple[dict[str, Any], int]:
    """Check the chip data against the registry and issue; one transaction, single use."""
    form = form_and_files_data
    photo = _read(form.photo, CHIP_PHOTO_MAX_BYTES, ChipPhotoTooLarge())
    live = None
    if form.live_face is not None:
        live = _read(form.live_face, LIVE_FACE_MAX_BYTES, ChipPhotoTooLarge("Live face too large."))
    chip = ChipData(form.name, form.id_number, form.expires_on, photo, live)
    result = issue_upgraded(
        database(),
        store(),
        settings(),
        get_engine(settings()) if live is not None else None,
        terminal_id=current_terminal().public_id,
        session_id=session_id,
        chip=chip,
        now=clock()(),
        card_pack=wechat_config().card_enabled,
    )
    issued = result.credential
    similarity = round(result.face_match.similarity, 4) if result.face_match else None
    return {
        "level": issued.level,
        "status": CredentialStatus.ACTIVE,
        "issued_at": issued.issued_at.isoformat(),
        "expires_at": issued.expires_at.isoformat(),
        "face_similarity": similarity,
    }, 201
