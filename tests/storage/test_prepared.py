"""``storage.prepared``: the same rows and the same errors as SQLAlchemy, on both paths.

On PostgreSQL, in a pipelined session, a :class:`~storage.prepared.Prepared` statement runs on
the psycopg cursor as a server-side prepared statement; elsewhere it is ``Session.execute``.
Either way the caller must not be able to tell: equal values (time zones included), a queued
write that commits with the transaction or fails it, and SQLAlchemy's exception types with the
parameters hidden.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from storage.db import Database
from storage.models.base import UtcDateTime
from storage.pipelined import unique_violation
from storage.prepared import Prepared
from storage.roundtrips import counting
from tests.storage.connection_checks import assert_clean_connection, scratch_database

SCRATCH = MetaData()
ROWS = Table(
    "prepared_scratch",
    SCRATCH,
    Column("id", Integer, primary_key=True),
    Column("mark", String(40)),
    Column("at", UtcDateTime),
    Column("day", Date),
    Column("blob", LargeBinary),
    Index("ix_prepared_scratch_mark", "mark", unique=True),
)
AT = dt.datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
READ = Prepared(
    select(ROWS.c.mark, ROWS.c.at, ROWS.c.day, ROWS.c.blob, literal("fixed"))
    .where(ROWS.c.mark == bindparam("mark"))
    .order_by(ROWS.c.id)
)
WRITE = Prepared(insert(ROWS).inline())


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    first = insert(ROWS).values(mark="taken", at=AT, day=dt.date(1990, 1, 2), blob=b"\x00\xff")
    with scratch_database(database_url, SCRATCH, first) as database:
        yield database


def test_rows_equal_what_sqlalchemy_reads_on_both_paths(db: Database) -> None:
    with db.transaction() as session:
        expected = [tuple(row) for row in session.execute(READ.statement, {"mark": "taken"})]
    for _ in range(3):  # the first call prepares, the next ones reuse the prepared statement
        with db.pipelined() as session:
            assert READ.rows(session, {"mark": "taken"}) == expected
    mark, at, day, blob, fixed = expected[0]
    assert (mark, day, blob, fixed) == ("taken", dt.date(1990, 1, 2), b"\x00\xff", "fixed")
    assert at == AT and at.tzinfo == dt.UTC  # UtcDateTime's result processor ran
    with db.pipelined() as session:
        assert READ.rows(session, {"mark": "absent"}) == []


def test_a_queued_write_commits_with_the_transaction(db: Database) -> None:
    with db.pipelined() as session:
        WRITE.queue(session, {"mark": "queued", "at": AT, "day": None, "blob": None})
        # A read after the queued write sees it (one transaction, in order).
        assert [row[0] for row in READ.rows(session, {"mark": "queued"})] == ["queued"]
    with db.transaction() as session:
        stored = session.execute(select(ROWS.c.at).where(ROWS.c.mark == "queued")).scalar_one()
    assert stored == AT  # the bind processor stored the aware time as UTC


def test_a_naive_datetime_is_refused_as_sqlalchemy_refuses_it(db: Database) -> None:
    naive = {"mark": "naive", "at": dt.datetime(2026, 1, 1), "day": None}  # noqa: DTZ001
    with pytest.raises(StatementError) as plain, db.transaction() as session:
        session.execute(WRITE.statement, naive)
    with pytest.raises(StatementError) as prepared, db.pipelined() as session:
        WRITE.queue(session, naive)
    assert type(prepared.value) is type(plain.value)
    assert isinstance(prepared.value.orig, ValueError)
    assert "naive datetime" in str(prepared.value)
    with db.transaction() as session:
        assert READ.rows(session, {"mark": "naive"}) == []


def test_a_failing_queued_write_fails_everything_with_sqlalchemys_error(db: Database) -> None:
    with pytest.raises(IntegrityError) as raised, db.pipelined() as session:
        WRITE.queue(session, {"mark": "kept-only-if-all-commit", "at": AT})
        WRITE.queue(session, {"mark": "taken", "at": AT})  # the unique index refuses it
    if db.dialect == "postgresql":
        assert unique_violation(raised.value) == "ix_prepared_scratch_mark"
    assert "kept-only-if-all-commit" not in str(raised.value)  # parameters hidden
    with db.transaction() as session:
        assert READ.rows(session, {"mark": "kept-only-if-all-commit"}) == []
    with db.pipelined() as session:  # the pool, and the prepared statements, go on working
        WRITE.queue(session, {"mark": "next", "at": AT})
        assert len(READ.rows(session, {"mark": "next"})) == 1
    assert_clean_connection(db)


def test_a_bad_parameter_raises_what_session_execute_raises(db: Database) -> None:
    bad = Prepared(select(ROWS.c.mark).where(ROWS.c.day == bindparam("day")))
    with pytest.raises(StatementError) as plain, db.transaction() as session:
        session.execute(bad.statement, {"day": "not a date"})
    with pytest.raises(StatementError) as prepared, db.pipelined() as session:
        bad.rows(session, {"day": "not a date"})
    # PostgreSQL: the server refuses the text (DataError); SQLite: its Date type refuses it.
    assert type(prepared.value) is type(plain.value)
    assert isinstance(prepared.value, DBAPIError) == (db.dialect == "postgresql")
    assert str(prepared.value) == str(plain.value)  # the same message, parameters hidden alike
    assert_clean_connection(db)


@pytest.mark.production_pair
def test_a_read_then_a_queued_write_is_two_round_trips(db: Database, store_kind: str) -> None:
    with db.pipelined() as session:  # warm: connect and prepare both statements
        READ.rows(session, {"mark": "taken"})
        WRITE.queue(session, {"mark": "warm", "at": AT})
    with counting() as seen, db.pipelined() as session:
        READ.rows(session, {"mark": "taken"})
        WRITE.queue(session, {"mark": "counted", "at": AT})
    assert seen.postgresql == 2, seen  # BEGIN + SELECT, then INSERT + COMMIT
