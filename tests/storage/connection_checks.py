"""How a pooled connection must look after a pipelined transaction, whatever happened in it,
and the scratch tables the storage tests run on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import pq
from sqlalchemy import Insert, MetaData

from storage.db import Database


@contextmanager
def scratch_database(url: str, schema: MetaData, first_row: Insert) -> Iterator[Database]:
    """A database at ``url`` with ``schema``'s tables created afresh and ``first_row`` written;
    the tables are dropped and the pool disposed afterwards."""
    database = Database(url)
    schema.drop_all(database.engine)
    schema.create_all(database.engine)
    with database.transaction() as session:
        session.execute(first_row)
    try:
        yield database
    finally:
        schema.drop_all(database.engine)
        database.dispose()


def assert_clean_connection(db: Database) -> None:
    """The next checkout gets an idle connection in the normal mode (PostgreSQL)."""
    with db.engine.connect() as connection:
        raw: Any = connection.connection.dbapi_connection
        if db.dialect == "postgresql":
            assert raw.autocommit is False
            assert raw.pgconn.pipeline_status == pq.PipelineStatus.OFF
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
