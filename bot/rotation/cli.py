"""``flask keys rotate-data-key`` and ``flask keys rotate-hash-key``: resumable, batch by batch."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from bot.errors import WangzhengError
from bot.extensions import database, settings
from bot.rotation.service import rotate_data_key, rotate_hash_key


@click.command("rotate-data-key")
@with_appcontext
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
def rotate_data_key_command(batch: int) -> None:
    """Re-seal all personal data under WANGZHENG_DATA_KEY (retired keys stay readable until done).

    Set the new key as WANGZHENG_DATA_KEY and the old one in WANGZHENG_DATA_KEYS_RETIRED first;
    rerun after an interruption, it resumes.
    """
    try:
        done = rotate_data_key(
            database(),
            settings(),
            batch=batch,
            progress=lambda label, count: click.echo(f"{label}: {count} re-sealed"),
        )
    except WangzhengError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    for label, count in done.items():
        click.echo(f"{label}: {count} re-sealed in this run")
    click.echo("done: no sealed value remains under a retired key; the retired key can go")


@click.command("rotate-hash-key")
@with_appcontext
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
def rotate_hash_key_command(batch: int) -> None:
    """Re-hash every ID number under WANGZHENG_HASH_KEY from its sealed value (resumable).

    Lookups try WANGZHENG_HASH_KEYS_RETIRED meanwhile; merchant pseudonyms do not change.
    """
    total = rotate_hash_key(
        database(),
        settings(),
        batch=batch,
        progress=lambda last_id, changed: click.echo(
            f"up to record {last_id}: {changed} re-hashed"
        ),
    )
    click.echo(f"done: {total} re-hashed; the retired hash key can go")
