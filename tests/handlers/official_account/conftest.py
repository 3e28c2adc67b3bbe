"""Fixtures of the official-account tests: the emulator serves the mini-program and a separate
official account, and the app is configured with both app ids."""

from __future__ import annotations

from typing import Any

import pytest

from bot.wechat.config import DEV_ENCODING_AES_KEY, DEV_TOKEN
from bot.wechat.emulator import WebhookSender
from tests.handlers.official_account.support import OA_APP_ID, OA_SECRET


@pytest.fixture
def emulator_other_apps() -> dict[str, str]:
    """The official account, bound to the same Open Platform account as the mini-program."""
    return {OA_APP_ID: OA_SECRET}


@pytest.fixture
def emulator_card_owner() -> str:
    """The card classes belong to the official account, as on WeChat."""
    return OA_APP_ID


@pytest.fixture
def wechat_app_config(wechat_app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared WeChat test settings, plus the official account's own app id."""
    wechat_app_config.update(wechat_oa_app_id=OA_APP_ID, wechat_oa_app_secret=OA_SECRET)
    return wechat_app_config


@pytest.fixture
def oa_sender() -> WebhookSender:
    """Pushes messages as WeChat does for the official account (its app id in the envelope)."""
    return WebhookSender(DEV_TOKEN, DEV_ENCODING_AES_KEY, OA_APP_ID)
