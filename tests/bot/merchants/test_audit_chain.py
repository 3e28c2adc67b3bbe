"""The verification audit is a MAC chain: edits behind the application's back show.

The triggers stop the application; a DBA can drop them. These tests play that DBA: they drop
the triggers, rewrite history with raw SQL, and expect ``flask audit verify`` to name the row.
Rows are sealed into the chain after commit by ``flask audit seal`` (the app clock is moved past
the settle window, never slept through).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from bot.extensions import clock as app_clock
from bot.extensions import database, settings
from bot.merchants.audit import verify_chain
from bot.merchants.sealing import settle_seconds
from storage.models.verification_audit import APPEND_ONLY_DDL
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify

DROP_TRIGGERS = {
    "sqlite": (
        "DROP TRIGGER verification_audits_no_update",
        "DROP TRIGGER verification_audits_no_delete",
    ),
    "postgresql": ("DROP TRIGGER verification_audits_append_only ON verification_audits",),
}


@pytest.fixture
def history(app: Any, client: Any, login: Any, runner: Any) -> list[int]:
    """Five audit rows (valid, replayed, valid, invalid, valid); returns their ids in order."""
    citizen = enrolled(app, login)
    key = merchant_key(app)
    first = fetch_token(client, citizen.access_token)
    assert verify(client, key, first)[1]["result"] == "valid"
    assert verify(client, key, first)[1]["reason"] == "replayed"
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"
    assert verify(client, key, "not-a-token")[1]["result"] == "invalid"
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"
    rows = _sql(app, "SELECT id FROM verification_audits ORDER BY id")
    assert len(rows) == 5
    assert _seal(app, runner) == 5
    return [int(row[0]) for row in rows]


def _seal(app: Any, runner: Any) -> int:
    """Two sealer passes a settle window apart: note the horizon, then seal up to it."""
    first = runner.invoke(args=["audit", "seal"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "sealed 0 rows"  # only notes the horizon
    app_clock(app).advance(settle_seconds(settings(app).database_statement_timeout_ms))
    second = runner.invoke(args=["audit", "seal"])
    assert second.exit_code == 0, second.output
    return int(second.output.split()[1])


@pytest.fixture
def dba(app: Any, db: Any) -> Iterator[Any]:
    """Raw SQL with the append-only triggers dropped; they are put back afterwards."""
    engine = db.engine
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for statement in DROP_TRIGGERS[dialect]:
            conn.execute(text(statement))

    def run(statement: str, **params: Any) -> None:
        with engine.begin() as conn:
            conn.execute(text(statement), params)

    yield run
    with engine.begin() as conn:
        for statement in APPEND_ONLY_DDL[dialect]:
            conn.execute(text(statement))


def _sql(app: Any, statement: str) -> list[Any]:
    with database(app).engine.connect() as conn:
        return list(conn.execute(text(statement)))


def _verify(runner: Any) -> tuple[int, str]:
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_an_untouched_chain_holds(runner: Any, history: list[int]) -> None:
    code, output = _verify(runner)
    assert code == 0, output
    assert "checked 5 chained rows" in output and "0 awaiting their seal" in output
    assert "intact" in output


def test_an_edited_row_is_named(runner: Any, history: list[int], dba: Any) -> None:
    dba(
        "UPDATE verification_audits SET result = 'valid', reason = NULL WHERE id = :id",
        id=history[1],
    )
    code, output = _verify(runner)
    assert code == 1
    assert f"row id {history[1]}: MAC does not match" in output


def test_a_deleted_row_breaks_the_next(runner: Any, history: list[int], dba: Any) -> None:
    dba("DELETE FROM verification_audits WHERE id = :id", id=history[2])
    code, output = _verify(runner)
    assert code == 1
    assert f"row id {history[3]}: expected seq 3" in output


def test_truncating_the_newest_rows_shows_at_the_head(
    runner: Any, history: list[int], dba: Any
) -> None:
    dba("DELETE FROM verification_audits WHERE id = :id", id=history[-1])
    code, output = _verify(runner)
    assert code == 1
    assert "chain head does not match the last row" in output


def test_a_forged_row_is_named(app: Any, runner: Any, history: list[int], dba: Any) -> None:
    dba(
        "INSERT INTO verification_audits (merchant_id, at, result, scope, disclosed, "
        "client_ip_hash, mac) SELECT merchant_id, at, 'valid', scope, '', client_ip_hash, "
        ":mac FROM verification_audits WHERE id = :id",
        mac="f" * 64,
        id=history[-1],
    )
    forged = int(_sql(app, "SELECT MAX(id) FROM verification_audits")[0][0])
    dba(
        "INSERT INTO audit_seals (seq, audit_id, mac) VALUES (6, :id, :mac)",
        id=forged,
        mac="f" * 64,
    )
    dba("UPDATE audit_chain SET seq = 6, mac = :mac, sealed_id = :id", mac="f" * 64, id=forged)
    code, output = _verify(runner)
    assert code == 1
    assert f"row id {forged}: MAC does not match" in output


def test_a_copied_row_is_named(
    app: Any, db: Any, runner: Any, history: list[int], dba: Any
) -> None:
    """A copy of a genuine row carries a genuine MAC of its own, but not its time: once it is
    sealed after newer rows, the walk names it (here with no skew allowed, as the rows of the
    fixture are only milliseconds apart)."""
    dba(
        "INSERT INTO verification_audits (merchant_id, credential_id, at, result, reason, "
        "scope, disclosed, level, client_ip_hash, mac) SELECT merchant_id, credential_id, "
        "at, result, reason, scope, disclosed, level, client_ip_hash, mac "
        "FROM verification_audits WHERE id = :id",
        id=history[1],  # the replay: no single-use mark, so its copy breaks no unique index
    )
    copy = int(_sql(app, "SELECT MAX(id) FROM verification_audits")[0][0])
    assert _seal(app, runner) == 1
    with db.transaction() as session:
        report = verify_chain(session, settings(app).audit_key, max_skew_s=0.0)
    assert (report.broken_at, report.problem) == (copy, "row out of time order")
    with db.transaction() as session:
        assert verify_chain(session, settings(app).audit_key).holds  # within the default skew


def test_a_row_slipped_in_without_a_place_is_named(
    app: Any, runner: Any, history: list[int], dba: Any
) -> None:
    dba(
        "INSERT INTO verification_audits (merchant_id, at, result, scope, disclosed, "
        "client_ip_hash) SELECT merchant_id, at, 'valid', scope, '', client_ip_hash "
        "FROM verification_audits WHERE id = :id",
        id=history[0],
    )
    code, output = _verify(runner)
    assert code == 1
    assert "row outside the chain" in output
