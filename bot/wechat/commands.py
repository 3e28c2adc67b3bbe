"""The official account's chat commands and menu keys, and the replies built from the citizen's
own data.

Invariants:
- A command is recognised after normalisation only: NFKC (full-width Latin letters and ``？``
  become half-width), case folding, and Traditional to Simplified Chinese (``狀態`` is ``状态``),
  so every spelling of a command routes to one :class:`Command`.
- Replies are fixed texts plus values read for the citizen the message came from (resolved by
  :mod:`bot.wechat.followers`); the text a user sent is never echoed back.
- ``挂失 / lost`` only links to the mini-program page that reports a lost card: a chat message
  alone never changes anything.
- Dates and times are shown in China Standard Time (UTC+8).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from enum import StrEnum
from pathlib import Path

import zhconv
from sqlalchemy.orm import Session

from bot.credentials.service import active_credential
from bot.merchants.history import VerificationEntry, verifications_for
from bot.vocab import Level, VerifyResult
from bot.wechat.config import WeChatConfig
from bot.wechat.followers import citizen_for, needs_unionid
from bot.wechat.official import request_unionid
from storage.models.citizen import Citizen

# zhconv leaves its bundled dictionary's file open when it loads it by its default name; by full
# path it uses ``with open`` (same file, loaded once per process on first use).
_ZH_DICTIONARY = str(Path(zhconv.__file__).with_name("zhcdict.json"))
CST = dt.timezone(dt.timedelta(hours=8))
HISTORY_LENGTH = 5


class Command(StrEnum):
    """What a text message or a menu click asks for."""

    STATUS = "status"
    HISTORY = "history"
    LOST = "lost"
    HELP = "help"


# Simplified, half-width, case-folded spellings (see :func:`normalise`).
_WORDS = {
    "状态": Command.STATUS,
    "status": Command.STATUS,
    "记录": Command.HISTORY,
    "核验记录": Command.HISTORY,
    "history": Command.HISTORY,
    "挂失": Command.LOST,
    "lost": Command.LOST,
    "帮助": Command.HELP,
    "help": Command.HELP,
    "网证": Command.HELP,
    "?": Command.HELP,
}
# Menu click keys (``EventKey``), matched after the same normalisation.
MENU_KEYS = {
    "wz_status": Command.STATUS,
    "wz_history": Command.HISTORY,
    "wz_lost": Command.LOST,
    "wz_help": Command.HELP,
}
_LEVEL_TEXT = {Level.LIGHT: "基础（黑白）", Level.UPGRADED: "增强（彩色）"}
_FIELD_TEXT = {
    "age_over_18": "是否成年",
    "name_masked": "姓名（部分隐藏）",
    "name": "姓名",
    "id_number": "身份证号",
}


def normalise(text: str) -> str:
    """One spelling per command: half-width, case-folded, Simplified, without outer spaces."""
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    zhconv.loaddict(_ZH_DICTIONARY)  # a no-op once loaded
    return str(zhconv.convert(folded, "zh-hans"))


def parse_command(text: str) -> Command | None:
    """The command a text message asks for, or None."""
    return _WORDS.get(normalise(text)[:16])


def parse_menu_key(key: str) -> Command | None:
    """The command a menu click (``EventKey``) stands for, or None."""
    return MENU_KEYS.get(normalise(key)[:32])


def mini_program_link(config: WeChatConfig, label: str, page: str | None = None) -> str:
    """A link in a chat message that opens a mini-program page (the pass page by default)."""
    return (
        f'<a data-miniprogram-appid="{config.app_id}" '
        f'data-miniprogram-path="{page or config.pass_page}" '
        f'href="https://weixin.qq.com">{label}</a>'
    )


def reply_to_command(session: Session, config: WeChatConfig, openid: str, command: Command) -> str:
    """The text for ``command`` sent by the follower ``openid`` (help is answered elsewhere)."""
    if command == Command.LOST:
        link = mini_program_link(config, "挂失身份证", config.lost_page)
        return f"身份证丢失？请在小程序中核验身份后挂失，挂失后网证立即失效。\n{link}"
    citizen = citizen_for(session, config, openid)
    if citizen is None:
        if needs_unionid(session, config, openid):
            request_unionid(session, config, openid)
            return (
                "您的公众号账号尚未与网证小程序关联。请先打开小程序登录，稍后再试。\n"
                + mini_program_link(config, "打开网证")
            )
        return "您还没有使用网证小程序。\n" + mini_program_link(config, "打开网证")
    if command == Command.STATUS:
        return status_text(session, citizen, config)
    return history_text(session, citizen)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _entry_line(entry: VerificationEntry) -> str:
    outcome = "通过" if entry.result == VerifyResult.VALID else "未通过"
    fields = "、".join(_FIELD_TEXT.get(name, name) for name in entry.disclosed) or "仅核验结果"
    return f"{_when(entry.at)} {entry.merchant}：{outcome}，披露：{fields}"


def status_text(session: Session, citizen: Citizen, config: WeChatConfig) -> str:
    """The reply to 状态: level, validity, device model and the last verification."""
    credential = active_credential(session, citizen.openid)
    if credential is None:
        return "您目前没有有效的网证。\n" + mini_program_link(config, "领取网证")
    lines = [
        "网证状态：有效",
        f"等级：{_LEVEL_TEXT.get(Level(credential.level), credential.level)}",
        f"有效期至：{credential.expires_at.astimezone(CST).date().isoformat()}",
        f"设备：{citizen.current_device_model or '未知设备'}",
    ]
    last = verifications_for(session, citizen.openid, limit=1)
    lines.append("最近核验：" + (_entry_line(last[0]) if last else "暂无"))
    return "\n".join(lines)


def history_text(session: Session, citizen: Citizen) -> str:
    """The reply to 记录: the last five verifications, newest first."""
    entries = verifications_for(session, citizen.openid, limit=HISTORY_LENGTH)
    if not entries:
        return "暂无核验记录。"
    lines = [f"最近 {len(entries)} 次核验："]
    lines += [f"{index}. {_entry_line(entry)}" for index, entry in enumerate(entries, 1)]
    return "\n".join(lines)
