"""``Database.pipelined``: one transaction, its deferred writes carried by the commit.

On PostgreSQL it runs in psycopg's pipeline mode (``storage.pipelined``); on SQLite it is the
plain transaction. Either way: what the block wrote commits together or not at all, a failed
deferred write fails the whole transaction, and the pooled connection comes back clean.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, event, func, insert, select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.pipelined import DEFER, defers_writes, unique_violation
from storage.roundtrips import counting
from tests.storage.connection_checks import assert_clean_connection, scratch_database

SCRATCH = MetaData()
ROWS = Table(
    "pipelined_scratch",
    SCRATCH,
    Column("id", Integer, primary_key=True),
    Column("mark", String(40)),
    Index("ix_pipelined_scratch_mark", "mark", unique=True),
)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    with scratch_database(database_url, SCRATCH, insert(ROWS).values(mark="taken")) as database:
        yield database


def _marks(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(ROWS.c.mark).order_by(ROWS.c.id)))


def test_reads_and_deferred_writes_commit_together(db: Database) -> None:
    with db.pipelined() as session:
        assert defers_writes(session) == (db.dialect == "postgresql")
        taken = session.scalar(select(func.count()).select_from(ROWS))
        session.execute(insert(ROWS).inline(), {"mark": f"after-{taken}"}, execution_options=DEFER)
        session.execute(insert(ROWS).values(mark="read-back"))
        assert session.scalar(select(func.count()).select_from(ROWS)) == 3  # its own writes
    assert _marks(db) == ["taken", "after-1", "read-back"]
    assert_clean_connection(db)


def test_a_failing_deferred_write_fails_the_whole_transaction(db: Database) -> None:
    with pytest.raises(IntegrityError) as raised, db.pipelined() as session:
        session.execute(insert(ROWS).values(mark="kept-only-if-all-commit"))
        session.execute(insert(ROWS).inline(), {"mark": "taken"}, execution_options=DEFER)
    if db.dialect == "postgresql":
        assert unique_violation(raised.value) == "ix_pipelined_scratch_mark"
    assert _marks(db) == ["taken"]
    assert_clean_connection(db)
    with db.pipelined() as session:  # and the pool goes on working
        session.execute(insert(ROWS).inline(), {"mark": "next"}, execution_options=DEFER)
    assert _marks(db) == ["taken", "next"]


def test_an_error_in_the_block_rolls_back_what_was_queued(db: Database) -> None:
    with pytest.raises(RuntimeError), db.pipelined() as session:
        session.execute(insert(ROWS).inline(), {"mark": "queued"}, execution_options=DEFER)
        session.scalar(select(func.count()).select_from(ROWS))
        raise RuntimeError("the caller gave up")
    assert _marks(db) == ["taken"]
    assert_clean_connection(db)


@pytest.mark.production_pair
def test_a_read_then_a_deferred_write_is_two_round_trips(db: Database, store_kind: str) -> None:
    with db.pipelined() as session:  # warm: connect, prepare nothing else
        session.scalar(select(func.count()).select_from(ROWS))
    with counting() as seen, db.pipelined() as session:
        session.scalar(select(func.count()).select_from(ROWS))
        session.execute(insert(ROWS).inline(), {"mark": "counted"}, execution_options=DEFER)
    assert seen.postgresql == 2, seen  # BEGIN + SELECT, then INSERT + COMMIT
    assert _marks(db) == ["taken", "counted"]


def test_an_error_before_any_statement_leaves_the_connection_clean(db: Database) -> None:
    with pytest.raises(RuntimeError), db.pipelined():
        raise RuntimeError("the caller gave up before its first read")  # BEGIN was only queued
    assert_clean_connection(db)
    with db.pipelined() as session:  # and the next transaction is a transaction of its own
        session.execute(insert(ROWS).inline(), {"mark": "after"}, execution_options=DEFER)
    assert _marks(db) == ["taken", "after"]


def _new_connections(db: Database) -> list[object]:
    """A list that grows by one for each connection the pool opens from now on."""
    opened: list[object] = []
    event.listen(db.engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    return opened


def test_an_empty_block_commits_without_dropping_its_connection(db: Database) -> None:
    with db.pipelined() as session:  # warm: the pool holds an open connection
        session.scalar(select(func.count()).select_from(ROWS))
    opened = _new_connections(db)
    with db.pipelined():
        pass  # BEGIN was queued, nothing ran through the session: it must still end
    assert opened == []  # the connection was reused, not dropped and reopened
    assert_clean_connection(db)
    with db.pipelined() as session:
        session.execute(insert(ROWS).inline(), {"mark": "after"}, execution_options=DEFER)
    assert _marks(db) == ["taken", "after"]
    assert opened == []


def test_a_failed_commit_rolls_back_and_keeps_its_connection(db: Database) -> None:
    with db.pipelined() as session:
        session.scalar(select(func.count()).select_from(ROWS))
    opened = _new_connections(db)
    with pytest.raises(IntegrityError), db.pipelined() as session:
        session.scalar(select(func.count()).select_from(ROWS))
        session.execute(insert(ROWS).inline(), {"mark": "taken"}, execution_options=DEFER)
    assert_clean_connection(db)  # rolled back on the server, autocommit off again
    assert opened == []
    assert _marks(db) == ["taken"]
