"""``flask db ...``: migrate the configured database."""

from __future__ import annotations

import click
from alembic import command
from flask import Flask
from flask.cli import AppGroup

from bot.extensions import database
from storage import migrate

db_cli = AppGroup("db", help="Database migrations (Alembic).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    migrate.upgrade(database().url, revision)
    click.echo(f"database at {revision}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade_command(revision: str) -> None:
    """Downgrade the database to REVISION (default: one step)."""
    migrate.downgrade(database().url, revision)


@db_cli.command("current")
def current_command() -> None:
    """Print the current revision."""
    command.current(migrate.alembic_config(database().url))


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def revision_command(message: str) -> None:
    """Autogenerate a new revision from the models."""
    command.revision(migrate.alembic_config(database().url), message=message, autogenerate=True)


def register_db_commands(app: Flask) -> None:
    """Attach the ``db`` group to the app's CLI."""
    app.cli.add_command(db_cli)
