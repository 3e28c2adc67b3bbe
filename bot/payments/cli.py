"""``flask payments ...``: the item catalogue, agencies and their keys, refunds, reconciliation.

Invariant: output names rows by line and reason code, never by ID number or name; a key is
printed once, to stdout.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from bot.csv_import import CsvInvalid
from bot.errors import WangzhengError
from bot.extensions import clock, database, settings
from bot.payments.agencies import create_agency
from bot.payments.catalogue import DEMO_CATALOGUE, import_items, read_catalogue
from bot.payments.gateway import payment_gateway
from bot.payments.reconcile import reconcile_day
from bot.payments.refunds import request_refund

payments_cli = AppGroup("payments", help="Non-tax payments: catalogue, agencies, refunds.")
items_cli = AppGroup("items", help="The catalogue of payment items.")
agencies_cli = AppGroup("agencies", help="Agencies that issue bills.")
payments_cli.add_command(items_cli)
payments_cli.add_command(agencies_cli)


@items_cli.command("import")
@click.argument(
    "csv_path",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
def import_command(csv_path: Path | None) -> None:
    """Import CSV_PATH (code,name,agency,city,amount_fen,min_fen,max_fen,level); without it,
    the demo catalogue. Exits 1 when any row failed."""
    try:
        rows = read_catalogue(csv_path or DEMO_CATALOGUE)
    except CsvInvalid as exc:
        raise click.ClickException(exc.message) from exc
    with click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar:
        report = import_items(database(), rows, lambda _outcome: bar.update(1))
    for failure in report.failures:
        click.echo(f"line {failure.line}: {failure.reason}: {failure.message}", err=True)
    rate = len(rows) / report.seconds if report.seconds > 0 else 0.0
    click.echo(
        f"created={report.created} updated={report.updated} unchanged={report.unchanged} "
        f"failed={report.failed} seconds={report.seconds:.2f} rows_per_s={rate:.1f}"
    )
    if report.failures:
        raise SystemExit(1)


@agencies_cli.command("create")
@click.argument("name")
def create_agency_command(name: str) -> None:
    """Create agency NAME (as the catalogue's agency column spells it); print its key once."""
    try:
        with database().transaction() as session:
            agency, api_key = create_agency(session, settings(), name)
    except WangzhengError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(f"agency {agency.public_id}")
    click.echo(f"api_key {api_key}")


@payments_cli.command("refund")
@click.argument("out_trade_no")
@click.option("--amount", "amount_fen", required=True, type=click.IntRange(min=1), help="Fen.")
@click.option("--reason", default="", help="Shown to the payer by WeChat Pay.")
@click.option("--ref", "out_refund_no", default=None, help="Refund number (idempotency).")
def refund_command(
    out_trade_no: str, amount_fen: int, reason: str, out_refund_no: str | None
) -> None:
    """Refund AMOUNT fen of the paid order OUT_TRADE_NO."""
    try:
        refund = request_refund(
            database(),
            payment_gateway(),
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            reason=reason,
            out_refund_no=out_refund_no,
            now=dt.datetime.fromtimestamp(clock()(), dt.UTC),
        )
    except WangzhengError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    click.echo(
        f"refund {refund.out_refund_no} order={refund.out_trade_no} "
        f"amount_fen={refund.amount_fen} status={refund.status}"
    )


@payments_cli.command("reconcile")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
def reconcile_command(day: dt.datetime) -> None:
    """Compare WeChat Pay's trade bill of DAY (Beijing) with our orders; exit 1 on any
    difference (run it from cron for yesterday)."""
    try:
        result = reconcile_day(database(), payment_gateway(), day.date())
    except WangzhengError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    for difference in result.differences:
        click.echo(difference.line())
    click.echo(
        f"day={result.day} payments={result.payments} refunds={result.refunds} "
        f"differences={len(result.differences)}"
    )
    if result.differences:
        raise SystemExit(1)
