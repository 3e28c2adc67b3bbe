"""Migrations: empty → head, no drift from the models, head → base."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import storage.models  # noqa: F401 - registers every table
from storage import migrate
from storage.db import Database
from storage.models.base import Base


def _drop_everything(database: Database) -> None:
    Base.metadata.drop_all(database.engine)
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    database = Database(database_url)
    try:
        _check_round_trip(database)
    finally:
        # Leave the schema the other tests expect, and no connection to the garbage collector.
        Base.metadata.create_all(database.engine)
        database.dispose()


def _check_round_trip(database: Database) -> None:
    _drop_everything(database)
    assert not inspect(database.engine).get_table_names()

    migrate.upgrade(database.url)
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables

    assert _audit_triggers(database), "a migration dropped the append-only audit triggers"

    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []

    migrate.downgrade(database.url)
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}


def _audit_triggers(database: Database) -> set[str]:
    """Names of the triggers on the audit table (a SQLite table rebuild would drop them)."""
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'verification_audits'"
        if database.dialect == "sqlite"
        else "SELECT tgname FROM pg_trigger "
        "WHERE tgrelid = 'verification_audits'::regclass AND NOT tgisinternal"
    )
    with database.engine.connect() as conn:
        return {str(name) for (name,) in conn.execute(text(query))}
