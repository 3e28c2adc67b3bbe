"""Alembic, driven from code: the migrations live in ``storage/migrations``.

Invariant: the database URL always comes from the app's settings (never from an ini file), so
``flask db upgrade`` migrates exactly the database the service will use.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` with our script location."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate down to ``revision``."""
    command.downgrade(alembic_config(url), revision)
