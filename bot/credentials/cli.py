"""``flask keys ...``: signing key rotation. Prints kids only, never key material."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from bot.credentials.keys import ensure_signing_key, public_jwks, rotate_keys
from bot.extensions import database, settings
from storage.cli import after_upgrade

keys_cli = AppGroup("keys", help="ES256 signing keys of presentation tokens.")


@keys_cli.command("rotate")
def rotate_command() -> None:
    """Add a new current key; older keys keep verifying for WANGZHENG_SIGNING_KEY_GRACE_S."""
    with database().transaction() as session:
        kid = rotate_keys(session, settings())
    click.echo(f"current kid {kid}")


@keys_cli.command("list")
def list_command() -> None:
    """Print the kids that still verify (the JWKS), newest first."""
    with database().transaction() as session:
        for key in public_jwks(session)["keys"]:
            click.echo(key["kid"])


def register_keys_commands(app: Flask) -> None:
    """Attach the ``keys`` group, and make the first signing key when migrating to head."""
    app.cli.add_command(keys_cli)
    config = settings(app)

    def first_signing_key(session: Session) -> None:
        ensure_signing_key(session, config)

    after_upgrade(app, first_signing_key)
