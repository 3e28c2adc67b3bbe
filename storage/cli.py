"""``flask db ...``: migrate the configured database.

Invariant: after an upgrade to ``head`` the hooks that domain packages registered with
:func:`after_upgrade` run, each in one transaction (the first signing key is made this way), so
storage never imports a domain package.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from alembic import command
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from storage import migrate
from storage.db import APP_EXTENSION, Database

db_cli = AppGroup("db", help="Database migrations (Alembic).")
_HOOKS = "wangzheng.after_upgrade"
UpgradeHook = Callable[[Session], None]


def database() -> Database:
    """The current app's database."""
    return current_app.extensions[APP_EXTENSION]  # type: ignore[no-any-return]


def after_upgrade(app: Flask, hook: UpgradeHook) -> None:
    """Run ``hook(session)`` after every ``flask db upgrade`` to head (it must be idempotent)."""
    app.extensions.setdefault(_HOOKS, []).append(hook)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    migrate.upgrade(database().url, revision)
    if revision == "head":
        for hook in current_app.extensions.get(_HOOKS, []):
            with database().transaction() as session:
                hook(session)
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
