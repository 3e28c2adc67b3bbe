"""The single-use mark and the audit row are one unit: under races, failed commits and SIGKILL.

Defect found by a hostile run (issue 13, item 3): a worker killed between the ``jti`` mark and
the audit commit burned tokens that left no audit row. Now the mark is the audit row.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.extensions import database, settings
from bot.merchants.audit import verify_chain
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify
from tests.killed_child import run_until_killed


def _audit(app: Any) -> list[tuple[str, str | None, str | None]]:
    with database(app).transaction() as session:
        rows = session.execute(
            select(VerificationAudit.result, VerificationAudit.reason, VerificationAudit.jti_digest)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_fifty_threads_one_token_exactly_one_valid(
    app: Any, db: Any, client: Any, login: Any
) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    token = fetch_token(client, citizen.access_token)
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(50)

    def attempt() -> None:
        own_client = app.test_client()
        barrier.wait()
        status, body = verify(own_client, key, token)
        assert status == 200
        answers.append(body)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 50
    assert sum(answer["result"] == "valid" for answer in answers) == 1
    assert sum(answer.get("reason") == "replayed" for answer in answers) == 49
    rows = _audit(app)
    assert len(rows) == 50
    assert [row[0] for row in rows if row[2] is not None] == ["valid"]
    with db.transaction() as session:
        chain = verify_chain(session, settings(app).audit_key)
    assert chain.holds and chain.checked == 50  # 50 concurrent writers, one unbroken chain


def test_a_failed_commit_neither_burns_the_token_nor_audits(
    app: Any, client: Any, login: Any
) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    token = fetch_token(client, citizen.access_token)

    def outage(session: Session) -> None:
        raise OperationalError("COMMIT", {}, ConnectionError("database went away"))

    event.listen(Session, "before_commit", outage)
    try:
        status, _ = verify(client, key, token)
    finally:
        event.remove(Session, "before_commit", outage)
    assert status >= 500
    assert _audit(app) == []
    status, answer = verify(client, key, token)
    assert (status, answer["result"]) == (200, "valid")


CHILD = """
import json, os, signal, sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from bot import create_app
from bot.extensions import database

config, key, token, when = json.loads(sys.argv[1])
app = create_app(config)
engine = database(app).engine
seen = {"audit": False}

def _note(statement):
    if str(statement).lstrip().upper().startswith("INSERT INTO VERIFICATION_AUDITS"):
        seen["audit"] = True

@event.listens_for(engine, "after_cursor_execute")
def _saw(conn, cursor, statement, *args):
    _note(statement)

# On PostgreSQL the hot path sends its audit insert on the psycopg cursor itself
# (storage.prepared), past SQLAlchemy's events: watch psycopg's own execute too.
import psycopg
_execute = psycopg.Cursor.execute
def _watched(self, query, *args, **kwargs):
    _note(query)
    return _execute(self, query, *args, **kwargs)
psycopg.Cursor.execute = _watched

def _die(*args):
    if seen["audit"]:
        os.kill(os.getpid(), signal.SIGKILL)

if when == "before_commit":
    event.listen(engine, "commit", _die)
else:
    event.listen(Session, "after_commit", _die)
app.test_client().post(
    "/api/v1/verify", json={"token": token}, headers={"Authorization": f"Bearer {key}"}
)
print("survived")
"""


@pytest.mark.parametrize(
    ("when", "audit_rows", "second_answer"),
    [("before_commit", 0, "valid"), ("after_commit", 1, "replayed")],
)
def test_sigkill_around_the_commit_keeps_mark_and_audit_together(
    app: Any,
    db: Any,
    client: Any,
    login: Any,
    app_config: dict[str, Any],
    when: str,
    audit_rows: int,
    second_answer: str,
) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    token = fetch_token(client, citizen.access_token)
    config = {k: str(v) for k, v in app_config.items()}
    run_until_killed(CHILD, [config, key, token, when])
    rows = _audit(app)
    assert len(rows) == audit_rows
    assert all(row[0] == "valid" and row[2] is not None for row in rows)
    status, answer = verify(client, key, token)
    assert status == 200
    assert answer.get("reason", answer["result"]) == second_answer
    with db.transaction() as session:
        marked = session.scalar(
            select(func.count())
            .select_from(VerificationAudit)
            .where(VerificationAudit.jti_digest.is_not(None))
        )
    assert marked == 1  # exactly one use consumed the token, whichever process it was
