"""Every ``flask ...`` command group of the service, registered in one place."""

from __future__ import annotations

from flask import Flask

from bot.credentials.cli import keys_cli, register_keys_commands
from bot.demo.cli import register_dev_commands
from bot.identity.cli import register_registry_commands
from bot.merchants.cli import register_merchant_commands
from bot.payments.cli import payments_cli
from bot.rotation.cli import rotate_data_key_command, rotate_hash_key_command
from bot.terminals.cli import terminals_cli
from bot.wechat.cli import wechat_cli
from storage.cli import register_db_commands


def register_commands(app: Flask) -> None:
    """Attach db, registry, keys, merchants, wechat, terminals, payments, dev (and face)."""
    register_db_commands(app)
    register_registry_commands(app)
    keys_cli.add_command(rotate_data_key_command)
    keys_cli.add_command(rotate_hash_key_command)
    register_keys_commands(app)
    register_merchant_commands(app)
    register_dev_commands(app)
    app.cli.add_command(wechat_cli)
    app.cli.add_command(terminals_cli)
    app.cli.add_command(payments_cli)
