"""Fixtures of the official-account tests: the emulator serves the mini-program and a separate
official account, and the app is configured with both app ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.wechat.config import (
    DEV_APP_ID,
    DEV_APP_SECRET,
    DEV_CARD_ID,
    DEV_ENCODING_AES_KEY,
    DEV_TOKEN,
)
from bot.wechat.emulator import RunningEmulator, WebhookSender, serve
from bot.wechat.emulator.server import Emulator
from tests.handlers.official_account.support import OA_APP_ID, OA_SECRET


@pytest.fixture
def running_emulator() -> Iterator[RunningEmulator]:
    """An emulator serving the mini-program and a separate official account."""
    running = serve(
        Emulator(
            DEV_APP_ID,
            DEV_APP_SECRET,
            known_card_ids=(DEV_CARD_ID,),
            other_apps={OA_APP_ID: OA_SECRET},
        )
    )
    yield running
    running.stop()


@pytest.fixture
def wechat_app_config(wechat_app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared WeChat test settings, plus the official account's own app id."""
    wechat_app_config.update(wechat_oa_app_id=OA_APP_ID, wechat_oa_app_secret=OA_SECRET)
    return wechat_app_config


@pytest.fixture
def oa_sender() -> WebhookSender:
    """Pushes messages as WeChat does for the official account (its app id in the envelope)."""
    return WebhookSender(DEV_TOKEN, DEV_ENCODING_AES_KEY, OA_APP_ID)
