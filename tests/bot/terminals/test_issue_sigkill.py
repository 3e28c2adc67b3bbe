"""A process killed (SIGKILL) in the middle of an upgraded issuance at a terminal (issue 11).

The issuance is one transaction: supersede the light credential, insert the upgraded one, store
its password hash, lift any light-enrolment block. A child process runs it for a READY terminal
session and kills itself after each of those writes, just before the commit, and just after it.
Whatever the point: exactly one active credential afterwards (the light one before the commit,
the upgraded one with its password hash after), never an upgraded credential without its
password; the interrupted session is not reusable (its single-use key was taken first), and a
new session at the same terminal issues with no repair.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo.chip import chip_photo
from bot.extensions import settings as app_settings
from bot.face.service import get_engine
from storage.models.credential import Credential
from storage.models.credential_password import CredentialPassword
from tests.bot.face.imaging import FACE_ROOT
from tests.handlers.terminal_flow import (
    CARD_EXPIRY,
    HOLDER_ID,
    HOLDER_NAME,
    chip_fields,
    open_and_claim,
    start_visit,
)
from tests.killed_child import run_until_killed
from tests.kit.terminal import new_terminal
from tests.registry_factories import issue

CHILD = r"""
import datetime as dt, json, os, signal, sys, time
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.orm import Session
from bot import create_app
from bot.extensions import database, settings, store
from bot.terminals.chip import ChipData
from bot.terminals.issue import issue_upgraded

config, terminal_id, session_id, name, id_number, expires_on, photo_path, when = json.loads(
    sys.argv[1]
)
app = create_app(config)
engine = database(app).engine
seen = set()

def _die():
    os.kill(os.getpid(), signal.SIGKILL)

@event.listens_for(engine, "after_cursor_execute")
def _after(conn, cursor, statement, *args):
    head = " ".join(statement.split()[:3]).upper()
    for prefix, point in (
        ("UPDATE CREDENTIALS", "after_supersede"),
        ("INSERT INTO CREDENTIALS", "after_insert"),
        ("INSERT INTO CREDENTIAL_PASSWORDS", "after_password"),
    ):
        if head.startswith(prefix):
            seen.add(point)
            if when == point:
                _die()

@event.listens_for(engine, "commit")
def _before_commit(conn):
    if when == "before_commit" and "after_password" in seen:
        _die()

@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if when == "after_commit" and "after_password" in seen:
        _die()

chip = ChipData(name, id_number, dt.date.fromisoformat(expires_on), Path(photo_path).read_bytes())
with app.app_context():
    issue_upgraded(database(app), store(app), settings(app), None, terminal_id=terminal_id,
                   session_id=session_id, chip=chip, now=time.time())
print("survived")
"""


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack (the chip photo is cut by the real detector)."""
    return {**app_config, "face_model_root": FACE_ROOT}


def _state(db: Any) -> tuple[list[tuple[str, str]], int]:
    """(level and status of every credential, oldest first), and the number of password rows."""
    with db.transaction() as session:
        rows = session.execute(
            select(Credential.level, Credential.status).order_by(Credential.issued_at)
        ).all()
        passwords = len(session.scalars(select(CredentialPassword.credential_id)).all())
    return [(level, status) for level, status in rows], passwords


@pytest.mark.parametrize(
    ("when", "committed"),
    [
        ("after_supersede", False),
        ("after_insert", False),
        ("after_password", False),
        ("before_commit", False),
        ("after_commit", True),
    ],
)
def test_sigkill_while_issuing_at_a_terminal_leaves_one_active_credential(
    app: Any,
    db: Any,
    login: Any,
    app_config: dict[str, Any],
    photos: dict[str, bytes],
    tmp_path: Path,
    when: str,
    committed: bool,
) -> None:
    terminal = new_terminal(app)
    visit = start_visit(app, login, terminal)
    issue(app, visit.subject_id, openid="o-holder", device_id="phone-o-holder")
    session_id = open_and_claim(visit)
    chip = chip_photo(get_engine(app_settings(app)), photos["obama"])
    (tmp_path / "chip.jpg").write_bytes(chip)

    config = {k: str(v) for k, v in app_config.items()}
    arguments = [
        config, terminal.terminal_id, session_id, HOLDER_NAME, HOLDER_ID,
        CARD_EXPIRY.isoformat(), str(tmp_path / "chip.jpg"), when,
    ]  # fmt: skip
    run_until_killed(CHILD, arguments)

    credentials, passwords = _state(db)
    if committed:
        assert credentials == [("light", "superseded"), ("upgraded", "active")]
        assert passwords == 1
    else:
        assert credentials == [("light", "active")]
        assert passwords == 0

    # The interrupted session cannot issue again: its single-use key went before the work.
    again = terminal.card(session_id, chip_fields(chip))
    assert (again.status_code, again.get_json()["error"]["code"]) == (
        409,
        "terminal_session_not_ready",
    )
    assert _state(db)[0] == credentials

    # A new session at the same terminal issues with no repair: one active credential, upgraded.
    fresh = terminal.card(open_and_claim(visit), chip_fields(chip))
    assert fresh.status_code == 201, fresh.get_json()
    credentials, passwords = _state(db)
    assert [level for level, status in credentials if status == "active"] == ["upgraded"]
    assert passwords == (2 if committed else 1)
