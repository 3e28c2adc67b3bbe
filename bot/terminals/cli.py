"""``flask terminals ...``: create, list, disable, rotate-key. A key is printed once, to stdout."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bot.errors import WangzhengError
from bot.extensions import database, settings
from bot.terminals.registry import (
    create_terminal,
    list_terminals,
    rotate_terminal_key,
    set_terminal_enabled,
)

terminals_cli = AppGroup("terminals", help="Trusted terminals and their signing keys.")


def _fail(exc: WangzhengError) -> click.ClickException:
    return click.ClickException(f"{exc.code}: {exc.message}")


@terminals_cli.command("create")
@click.argument("name")
@click.option("--site", required=True, help="Where the terminal stands (shown to citizens).")
def create_command(name: str, site: str) -> None:
    """Register terminal NAME and print its key (shown only this once)."""
    try:
        with database().transaction() as session:
            issued = create_terminal(session, settings(), name=name, site=site)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"terminal {issued.terminal.public_id}")
    click.echo(f"key {issued.key}")


@terminals_cli.command("list")
def list_command() -> None:
    """Print every terminal (never keys)."""
    with database().transaction() as session:
        for view in list_terminals(session):
            state = "enabled" if view.enabled else "disabled"
            click.echo(f"{view.public_id} {state} {view.key_hint}… {view.site} | {view.name}")


@terminals_cli.command("disable")
@click.argument("public_id")
def disable_command(public_id: str) -> None:
    """Disable PUBLIC_ID; its requests are refused from now on."""
    try:
        with database().transaction() as session:
            set_terminal_enabled(session, public_id, False)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"terminal {public_id} disabled")


@terminals_cli.command("rotate-key")
@click.argument("public_id")
def rotate_command(public_id: str) -> None:
    """Replace PUBLIC_ID's key and print the new one; the old key stops at once."""
    try:
        with database().transaction() as session:
            issued = rotate_terminal_key(session, settings(), public_id)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"key {issued.key}")
