"""How a pooled connection must look after a pipelined transaction, whatever happened in it."""

from __future__ import annotations

from typing import Any

from psycopg import pq

from storage.db import Database


def assert_clean_connection(db: Database) -> None:
    """The next checkout gets an idle connection in the normal mode (PostgreSQL)."""
    with db.engine.connect() as connection:
        raw: Any = connection.connection.dbapi_connection
        if db.dialect == "postgresql":
            assert raw.autocommit is False
            assert raw.pgconn.pipeline_status == pq.PipelineStatus.OFF
            assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
