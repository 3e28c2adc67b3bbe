"""``flask wechat ...``: create the card class, deliver the outbox."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from bot.wechat.app import outbox_dispatcher, wechat_config, wechat_oa_api
from bot.wechat.cards import create_card_class, member_card_class
from bot.wechat.errors import WeChatError
from bot.wechat.official import MENU_FILE, apply_menu, menu_body, menu_version
from bot.wechat.outbox import dead_letters, outbox_status

wechat_cli = AppGroup("wechat", help="WeChat: card pack, notifications and the menu.")


# WeChat's card palette has no black: Color102 (#5E6671, grey) stands for the black-and-white
# light pass, Color030 (#509FC9, blue) for the colour of the upgraded one.
LEVEL_COLORS = {"light": "Color102", "upgraded": "Color030"}


@wechat_cli.command("create-card-class")
@click.option(
    "--level",
    type=click.Choice(sorted(LEVEL_COLORS)),
    default="light",
    show_default=True,
    help="Which credentials the class is for (its default colour follows).",
)
@click.option("--brand", default="网证", show_default=True)
@click.option("--title", default="电子身份凭证", show_default=True)
@click.option("--color", default=None, help="WeChat colour name; default by level.")
@click.option("--notice", default="出示时请打开小程序", show_default=True)
@click.option("--logo-url", default="https://mmbiz.qpic.cn/mmbiz/placeholder/0", show_default=True)
@click.option(
    "--mp-username", default="gh_000000000000@app", help="The mini-program's original id + @app."
)
def create_card_class_command(
    level: str,
    brand: str,
    title: str,
    color: str | None,
    notice: str,
    logo_url: str,
    mp_username: str,
) -> None:
    """Create the MEMBER_CARD class of light or upgraded credentials and print its card_id."""
    config = wechat_config()
    body = member_card_class(
        config,
        brand_name=brand,
        title=title,
        color=color or LEVEL_COLORS[level],
        notice=notice,
        logo_url=logo_url,
        mp_username=mp_username,
    )
    card_id = create_card_class(wechat_oa_api(), body)
    click.echo(card_id)
    variable = "WANGZHENG_WECHAT_CARD_ID" + ("_UPGRADED" if level == "upgraded" else "")
    click.echo(f"Set {variable}={card_id} and WANGZHENG_WECHAT_CARD_ENABLED=1.", err=True)


outbox_cli = AppGroup("outbox", help="The outbox of WeChat calls: status and dead letters.")
wechat_cli.add_command(outbox_cli)


@outbox_cli.command("status")
@click.option("--dead", default=10, show_default=True, help="How many dead letters to list.")
def outbox_status_command(dead: int) -> None:
    """Rows by kind and status, then the newest dead letters (given up after the retry bound)."""
    dispatcher = outbox_dispatcher()
    counts = outbox_status(dispatcher.database)
    for row in counts:
        click.echo(f"{row.kind} {row.status}={row.count}")
    if not counts:
        click.echo("empty")
    for letter in dead_letters(dispatcher.database, dead):
        click.echo(
            f"dead #{letter.id} {letter.kind} attempts={letter.attempts} "
            f"last_error={letter.last_error or '-'} created_at={letter.created_at.isoformat()}"
        )


@wechat_cli.command("flush-outbox")
@click.option("--limit", default=500, show_default=True)
def flush_outbox_command(limit: int) -> None:
    """Deliver every due outbox row now (run from cron as the safety net)."""
    result = outbox_dispatcher().flush(limit=limit)
    click.echo(
        f"sent={result.sent} retried={result.retried} dropped={result.dropped} dead={result.dead}"
    )


menu_cli = AppGroup("menu", help="The official account's custom menu.")
wechat_cli.add_command(menu_cli)


@menu_cli.command("apply")
@click.option(
    "--file",
    "menu_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=MENU_FILE,
    show_default=True,
    help="The versioned menu file.",
)
def apply_menu_command(menu_file: Path) -> None:
    """Set the official account's menu (menu/create) and check it by reading it back."""
    body = menu_body(wechat_config(), menu_file)
    try:
        apply_menu(wechat_oa_api(), body)
    except WeChatError as exc:
        raise click.ClickException(f"{exc.message} (errcode {exc.details.get('errcode')})") from exc
    names = ", ".join(button["name"] for button in body["button"])
    click.echo(f"menu version {menu_version(menu_file)} applied: {names}")
