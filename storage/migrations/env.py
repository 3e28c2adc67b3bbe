"""Alembic environment: runs migrations online against the configured URL."""

from __future__ import annotations

from alembic import context

import storage.models  # noqa: F401 - registers every table on the metadata
from storage.db import make_engine
from storage.models.base import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run every pending migration in one transaction (SQLite uses batch mode for ALTERs)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url  # noqa: S101 - set by storage.migrate
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
