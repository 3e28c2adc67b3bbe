"""``flask dev prepare``: everything ``make run`` needs so the simulator works on a new machine."""

from __future__ import annotations

import subprocess

import click
from flask import Flask
from flask.cli import AppGroup

from bot.demo.photos import fetch_sample_photos
from bot.demo.service import DEMO_PEOPLE, seed_demo_registry
from bot.extensions import database, settings
from bot.identity.registry import engine_embedder
from bot.payments.demo import seed_demo_bills

dev_cli = AppGroup("dev", help="Development helpers (refused in production).")


@dev_cli.command("prepare")
def prepare_command() -> None:
    """Seed demo bills, build the face pack and seed the demo registry (idempotent)."""
    config = settings()
    if config.is_production:
        raise click.ClickException("flask dev prepare is for development only")
    bills = seed_demo_bills(
        database(), config, [(person.id_number, person.name) for person in DEMO_PEOPLE]
    )
    click.echo(f"demo bills: created={bills}")
    embedder = engine_embedder(config)
    click.echo(f"face pack {embedder.pack_id} ready")
    try:
        photos = fetch_sample_photos(config.instance_path / "demo")
    except (subprocess.CalledProcessError, OSError) as exc:
        click.echo(f"sample photos unavailable ({type(exc).__name__}); use the camera", err=True)
        return
    report = seed_demo_registry(database(), config, embedder, photos)
    click.echo(
        f"demo registry: created={report.created} updated={report.updated} "
        f"unchanged={report.unchanged} failed={report.failed}"
    )


def register_dev_commands(app: Flask) -> None:
    """Attach the ``dev`` group to the app's CLI."""
    app.cli.add_command(dev_cli)
