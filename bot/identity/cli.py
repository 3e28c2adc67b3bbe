"""``flask registry ...``: import the authority registry, re-embed it for a new model pack, and
lift a dispute's block on light enrolment.

Invariant: output names rows by line number and reason code, never by ID number or name.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from bot.csv_import import CsvInvalid, RowOutcome
from bot.extensions import database, settings
from bot.identity.bulk_import import import_in_batches
from bot.identity.errors import IdNumberInvalid
from bot.identity.idnumber import parse_id_number
from bot.identity.importer import ImportReport, read_rows, record_ids, reembed
from bot.identity.lost import clear_lost, report_lost, report_older_card_lost
from bot.identity.registry import Embedder, engine_embedder, find_record
from bot.identity.takeover import lift_light_enrolment_block
from storage.models.registry_record import RegistryRecord

registry_cli = AppGroup(
    "registry", help="The authority registry (stand-in for its photo database)."
)


def _embedder(app: Flask) -> Embedder:
    """The active face engine as the registry's embedder."""
    return engine_embedder(settings(app))


def _summary(report: ImportReport, label: str) -> None:
    """Print failures and the summary line; exit 1 when any row failed."""
    for failure in report.failures:
        click.echo(f"{label} {failure.line}: {failure.reason}: {failure.message}", err=True)
    click.echo(
        f"created={report.created} updated={report.updated} unchanged={report.unchanged} "
        f"failed={report.failed} photos={report.photos_embedded} "
        f"seconds={report.seconds:.2f} photos_per_s={report.photos_per_second:.2f}"
        + (f" writer_s={report.writer_seconds:.2f}" if report.writer_seconds else "")
    )
    if report.failed:
        raise SystemExit(1)


@registry_cli.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--photos", "photos_dir", required=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--workers", type=click.IntRange(1, 256), default=1, show_default=True,
    help="Processes that embed photos (one per core is the useful maximum).",
)  # fmt: skip
@click.option(
    "--batch", type=click.IntRange(1, 10_000), default=64, show_default=True,
    help="Rows per transaction; a killed import redoes at most one batch.",
)  # fmt: skip
def import_command(csv_path: Path, photos_dir: Path, workers: int, batch: int) -> None:
    """Import CSV_PATH (id_number,name,photo,expires_on); photos are file names in --photos.

    Resumable: run it again after an interruption and rows already imported are skipped.
    """
    try:
        rows = read_rows(csv_path)
    except CsvInvalid as exc:
        raise click.ClickException(exc.message) from exc
    started = time.monotonic()
    embedded = 0

    def rate(_item: object) -> str:
        elapsed = time.monotonic() - started
        return f"{embedded / elapsed:.1f} photos/s" if elapsed > 0 else ""

    with click.progressbar(
        length=len(rows), label="importing", file=sys.stderr, show_eta=True, show_pos=True,
        item_show_func=rate,
    ) as bar:  # fmt: skip

        def advance(outcome: RowOutcome) -> None:
            nonlocal embedded
            embedded += outcome.status in ("created", "updated")
            bar.update(1, outcome)

        report = import_in_batches(
            database(), settings(), rows, photos_dir, workers=workers, batch=batch,
            progress=advance,
        )  # fmt: skip
    _summary(report, "line")


@registry_cli.command("reembed")
def reembed_command() -> None:
    """Recompute every reference embedding for the active model pack."""
    from flask import current_app

    embedder = _embedder(current_app)
    ids = record_ids(database())
    with click.progressbar(
        length=len(ids),
        label=f"embedding for {embedder.pack_id}",
        file=sys.stderr,
    ) as bar:

        def advance(_outcome: RowOutcome) -> None:
            bar.update(1)

        report = reembed(database(), settings(), embedder, ids, advance)
    _summary(report, "record")


@registry_cli.command("clear-dispute")
@click.argument("id_number")
def clear_dispute_command(id_number: str) -> None:
    """Lift the light-enrolment block a "not me" dispute put on ID_NUMBER's person.

    Do it only after the person was verified in front of the authority. An upgraded enrolment
    at a terminal lifts it too (bot.identity.takeover.lift_light_enrolment_block).
    """
    try:
        parsed = parse_id_number(id_number)
    except IdNumberInvalid as exc:
        raise click.ClickException(exc.message) from exc
    with database().transaction() as session:
        record = find_record(session, settings(), parsed.value)
        if record is None:
            raise click.ClickException("No registry record has this ID number.")
        lifted = lift_light_enrolment_block(session, record.id)
    state = "cleared: light enrolment is open again" if lifted else "not blocked: nothing to do"
    click.echo(f"record {record.id} {state}")


def _record_for(id_number: str) -> RegistryRecord:
    """The record of an ID number typed at a hidden prompt, or a click error."""
    try:
        parsed = parse_id_number(id_number)
    except IdNumberInvalid as exc:
        raise click.ClickException(exc.message) from exc
    with database().transaction() as session:
        record = find_record(session, settings(), parsed.value)
    if record is None:
        raise click.ClickException("No registry record has this ID number.")
    return record


@registry_cli.command("report-lost")
@click.option(
    "--expires-on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="An older card's expiry: only that card's chip is refused (default: the card the "
    "registry knows, which also revokes the credentials and blocks enrolment).",
)
def report_lost_command(expires_on: dt.datetime | None) -> None:
    """Report the person's ID card lost: every credential of theirs is revoked
    (``id_card_reported_lost``), enrolment is refused and terminals refuse the card's chip until
    ``flask registry clear-lost``. Idempotent; audited (``lost_card_reports``) with the
    authority as the actor, and the audit entry's number printed.

    The ID number is asked for on the terminal (hidden), never taken from the command line.
    """
    record = _record_for(click.prompt("ID number", hide_input=True))
    if expires_on is not None and expires_on.date() != record.expires_on:
        with database().transaction() as session:
            audit_id = report_older_card_lost(session, record.id, expires_on.date())
        click.echo(
            f"record {record.id}: the card expiring {expires_on.date()} is reported lost; "
            f"audit entry {audit_id}"
        )
        return
    with database().transaction() as session:
        report = report_lost(session, record.id, actor="authority")
    state = "reported lost" if report.newly_reported else "already reported lost"
    click.echo(
        f"record {report.record_id}: {state}; {report.revoked} credential(s) revoked; "
        f"audit entry {report.audit_id}"
    )


@registry_cli.command("clear-lost")
def clear_lost_command() -> None:
    """Lift the lost-card report of the person (ID number asked for, hidden)."""
    record = _record_for(click.prompt("ID number", hide_input=True))
    with database().transaction() as session:
        outcome = clear_lost(session, record.id)
    state = (
        "cleared: enrolment is open again"
        if outcome.cleared
        else "not reported lost: nothing to do"
    )
    click.echo(f"record {record.id} {state}; audit entry {outcome.audit_id}")


def register_registry_commands(app: Flask) -> None:
    """Attach the ``registry`` group to the app's CLI."""
    app.cli.add_command(registry_cli)
