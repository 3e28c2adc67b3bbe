"""``flask merchants ...``: create, rotate keys, disable. A key is printed once, to stdout."""

from __future__ import annotations

import datetime as dt
import time

import click
from flask import Flask
from flask.cli import AppGroup

from bot.errors import WangzhengError
from bot.extensions import clock, database, settings, store
from bot.merchants.accounts import (
    create_merchant,
    list_merchants,
    rotate_key,
    set_enabled,
)
from bot.merchants.audit import seal_pending, verify_chain
from bot.merchants.counter import set_capabilities
from bot.merchants.sealing import settle_seconds
from bot.vocab import MerchantCategory, Scope

merchants_cli = AppGroup("merchants", help="Merchant accounts and their API keys.")
audit_cli = AppGroup("audit", help="The verification audit.")


def _fail(exc: WangzhengError) -> click.ClickException:
    return click.ClickException(f"{exc.code}: {exc.message}")


@merchants_cli.command("create")
@click.argument("name")
@click.option(
    "--category",
    required=True,
    type=click.Choice([category.value for category in MerchantCategory]),
)
@click.option(
    "--scopes", default="result", show_default=True, help=f"Comma list of {', '.join(Scope)}."
)
def create_command(name: str, category: str, scopes: str) -> None:
    """Create merchant NAME and print its API key (shown only this once)."""
    try:
        with database().transaction() as session:
            issued = create_merchant(
                session,
                settings(),
                name=name,
                category=category,
                scopes=[s.strip() for s in scopes.split(",") if s.strip()],
            )
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"merchant {issued.merchant.public_id} scopes={','.join(issued.merchant.scopes)}")
    click.echo(f"api_key {issued.api_key}")


@merchants_cli.command("rotate-key")
@click.argument("public_id")
def rotate_command(public_id: str) -> None:
    """Replace PUBLIC_ID's key and print the new one; the old key stops at once."""
    try:
        with database().transaction() as session:
            issued = rotate_key(session, settings(), store(), public_id)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"api_key {issued.api_key}")


@merchants_cli.command("disable")
@click.argument("public_id")
def disable_command(public_id: str) -> None:
    """Disable PUBLIC_ID; its key gets 401 from now on."""
    try:
        with database().transaction() as session:
            set_enabled(session, store(), public_id, False)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"merchant {public_id} disabled")


@merchants_cli.command("capabilities")
@click.argument("public_id")
@click.argument("capabilities", default="")
def capabilities_command(public_id: str, capabilities: str) -> None:
    """Set PUBLIC_ID's capabilities to the comma list CAPABILITIES (empty: none); ``face`` lets
    it send a live photo with a token (POST /api/v1/verify/face)."""
    try:
        with database().transaction() as session:
            granted = set_capabilities(session, public_id, capabilities)
    except WangzhengError as exc:
        raise _fail(exc) from exc
    click.echo(f"merchant {public_id} capabilities={','.join(granted) or '-'}")


@merchants_cli.command("list")
def list_command() -> None:
    """Print every merchant (never keys)."""
    with database().transaction() as session:
        for view in list_merchants(session):
            state = "enabled" if view.enabled else "disabled"
            click.echo(
                f"{view.public_id} {state} {view.category} {','.join(view.scopes)} {view.name}"
            )


@audit_cli.command("verify")
def audit_verify_command() -> None:
    """Walk the audit's MAC chain; name the first broken row and exit 1 if there is one."""
    with database().transaction() as session:
        report = verify_chain(session, settings().audit_key)
    click.echo(
        f"checked {report.checked} chained rows ({report.unchained} from before the chain, "
        f"{report.pending} awaiting their seal)"
    )
    if not report.holds:
        where = f"row id {report.broken_at}" if report.broken_at is not None else "chain head"
        raise click.ClickException(f"audit chain broken at {where}: {report.problem}")
    click.echo("audit chain intact")


@audit_cli.command("seal")
@click.option("--every", type=float, default=0.0, help="Repeat every N seconds (0: one pass).")
def audit_seal_command(every: float) -> None:
    """Seal committed audit rows into the MAC chain (run one sealer, e.g. every second)."""
    settle = settle_seconds(settings().database_statement_timeout_ms)
    while True:
        with database().transaction() as session:
            now = dt.datetime.fromtimestamp(clock()(), dt.UTC)
            sealed = seal_pending(session, settings().audit_key, now=now, settle_s=settle)
        if sealed or not every:
            click.echo(f"sealed {sealed} rows")
        if not every:
            return
        time.sleep(every)


def register_merchant_commands(app: Flask) -> None:
    """Attach the ``merchants`` and ``audit`` groups to the app's CLI."""
    app.cli.add_command(merchants_cli)
    app.cli.add_command(audit_cli)
