"""``flask wechat ...``: create the card class, deliver the outbox."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from bot.wechat import outbox
from bot.wechat.app import wechat_api, wechat_config
from bot.wechat.cards import create_card_class, member_card_class

wechat_cli = AppGroup("wechat", help="WeChat: card pack and notifications.")


@wechat_cli.command("create-card-class")
@click.option("--brand", default="网证", show_default=True)
@click.option("--title", default="电子身份凭证", show_default=True)
@click.option("--color", default="Color010", show_default=True)
@click.option("--notice", default="出示时请打开小程序", show_default=True)
@click.option("--logo-url", default="https://mmbiz.qpic.cn/mmbiz/placeholder/0", show_default=True)
@click.option(
    "--mp-username", default="gh_000000000000@app", help="The mini-program's original id + @app."
)
def create_card_class_command(
    brand: str, title: str, color: str, notice: str, logo_url: str, mp_username: str
) -> None:
    """Create the MEMBER_CARD class and print its card_id."""
    config = wechat_config()
    body = member_card_class(
        config,
        brand_name=brand,
        title=title,
        color=color,
        notice=notice,
        logo_url=logo_url,
        mp_username=mp_username,
    )
    card_id = create_card_class(wechat_api(), body)
    click.echo(card_id)
    click.echo(
        f"Set WANGZHENG_WECHAT_CARD_ID={card_id} and WANGZHENG_WECHAT_CARD_ENABLED=1.", err=True
    )


@wechat_cli.command("flush-outbox")
@click.option("--limit", default=500, show_default=True)
def flush_outbox_command(limit: int) -> None:
    """Deliver every due outbox row now (run from cron as the safety net)."""
    result = outbox.flush(current_app, limit=limit)
    click.echo(
        f"sent={result.sent} retried={result.retried} dropped={result.dropped} dead={result.dead}"
    )
