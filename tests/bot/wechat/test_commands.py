"""Chat commands and menu keys: every spelling of a command routes to it, nothing else does."""

from __future__ import annotations

import pytest

from bot.wechat.commands import Command, normalise, parse_command, parse_menu_key


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("状态", Command.STATUS),
        ("狀態", Command.STATUS),  # Traditional
        ("  状态\n", Command.STATUS),
        ("status", Command.STATUS),
        ("STATUS", Command.STATUS),
        ("ＳＴＡＴＵＳ", Command.STATUS),  # noqa: RUF001 - full-width on purpose
        ("Ｓｔａｔｕｓ", Command.STATUS),  # noqa: RUF001
        ("记录", Command.HISTORY),
        ("記錄", Command.HISTORY),
        ("History", Command.HISTORY),
        ("核驗記錄", Command.HISTORY),
        ("挂失", Command.LOST),
        ("掛失", Command.LOST),
        ("ｌｏｓｔ", Command.LOST),  # noqa: RUF001
        ("帮助", Command.HELP),
        ("幫助", Command.HELP),
        ("網證", Command.HELP),
        ("?", Command.HELP),
        ("？", Command.HELP),
        ("HELP", Command.HELP),
    ],
)
def test_every_spelling_routes_to_its_command(text: str, command: Command) -> None:
    assert parse_command(text) is command


@pytest.mark.parametrize(
    "text", ["", "hello", "状态吗", "status please", "挂", "statu", "帮 助", "状态" * 20]
)
def test_anything_else_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize(
    ("key", "command"),
    [
        ("WZ_STATUS", Command.STATUS),
        ("wz_history", Command.HISTORY),
        ("ＷＺ＿ＨＥＬＰ", Command.HELP),  # noqa: RUF001
        ("WZ_LOST", Command.LOST),
    ],
)
def test_menu_keys(key: str, command: Command) -> None:
    assert parse_menu_key(key) is command


def test_unknown_menu_key() -> None:
    assert parse_menu_key("WZ_PAY") is None


def test_normalise_is_half_width_simplified_and_folded() -> None:
    assert normalise(" ＡＢＣ　狀態 ") == "abc 状态"  # noqa: RUF001
