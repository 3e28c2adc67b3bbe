"""A process killed (SIGKILL) in the middle of issuing an enrolment's credential (issue 13, faults).

Issuing is one transaction: supersede the earlier credential, insert the new one, queue the
"credential issued" notice. A child process runs it and kills itself at a point between those
writes, or just before or after the commit. Whatever the point: exactly one active credential
afterwards (the old one before the commit, the new one after), never a half-issued one (a new
credential without its notice, or a superseded credential with no successor), and the next
enrolment works with no repair.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from storage.models.credential import Credential
from storage.models.outbox import OutboxMessage
from tests.killed_child import run_until_killed
from tests.registry_factories import add_record, issue

OPENID, DEVICE = "o-killed-enrolment", "device-1"

CHILD = r"""
import json, os, signal, sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from bot import create_app
from bot.extensions import database
from bot.identity.enrolment import issue_light_credential

config, citizen_id, subject_id, openid, device, when = json.loads(sys.argv[1])
app = create_app(config)
engine = database(app).engine
seen = set()

def _die():
    os.kill(os.getpid(), signal.SIGKILL)

@event.listens_for(engine, "after_cursor_execute")
def _after(conn, cursor, statement, *args):
    words = statement.split()
    head = " ".join(words[:3]).upper()
    if head.startswith("UPDATE CREDENTIALS"):
        seen.add("superseded")
        if when == "after_supersede":
            _die()
    if head == "INSERT INTO CREDENTIALS":
        seen.add("inserted")
        if when == "after_insert":
            _die()

@event.listens_for(engine, "commit")
def _before_commit(conn):
    if when == "before_commit" and "inserted" in seen:
        _die()

@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if when == "after_commit" and "inserted" in seen:
        _die()

issue_light_credential(database(app), citizen_id=citizen_id, openid=openid, device_id=device,
                       subject_id=subject_id, card_pack=False)
print("survived")
"""


def _state(db: Any) -> tuple[list[tuple[str, str]], int]:
    """(id and status of every credential, oldest first), and the number of outbox rows."""
    with db.transaction() as session:
        rows = session.execute(
            select(Credential.id, Credential.status).order_by(Credential.issued_at)
        ).all()
        notices = len(list(session.scalars(select(OutboxMessage))))
    return [(credential_id, status) for credential_id, status in rows], notices


@pytest.mark.parametrize(
    ("when", "committed"),
    [
        ("after_supersede", False),
        ("after_insert", False),
        ("before_commit", False),
        ("after_commit", True),
    ],
)
def test_sigkill_while_issuing_leaves_one_active_credential(
    app: Any, db: Any, login: Any, app_config: dict[str, Any], when: str, committed: bool
) -> None:
    from bot.identity.enrolment import issue_light_credential

    tokens = login(OPENID, DEVICE)
    subject = add_record(app)
    old = issue(app, subject, openid=OPENID, device_id=DEVICE).credential_id
    # Every issuance queues its "credential issued" notice (the CredentialIssued event), the
    # set-up's own included, and every re-issue also a "credential superseded" notice for the
    # credential it replaces (CredentialEnded, reason reissued); count the child's from there.
    _, before = _state(db)
    config = {k: str(v) for k, v in app_config.items()}
    arguments = [config, int(tokens.citizen_id), subject, OPENID, DEVICE, when]
    run_until_killed(CHILD, arguments)

    credentials, notices = _state(db)
    if committed:
        assert [status for _, status in credentials] == ["superseded", "active"]
        assert credentials[0][0] == old
        assert notices == before + 2  # superseded + issued, both or neither
    else:
        assert credentials == [(old, "active")]
        assert notices == before

    # The next enrolment needs no repair, and still leaves exactly one active credential.
    issue_light_credential(
        db, citizen_id=int(tokens.citizen_id), openid=OPENID, device_id=DEVICE,
        subject_id=subject, card_pack=False,
    )  # fmt: skip
    credentials, notices = _state(db)
    active = [credential_id for credential_id, status in credentials if status == "active"]
    assert len(active) == 1 and active[0] == credentials[-1][0]
    assert notices == before + (4 if committed else 2)
