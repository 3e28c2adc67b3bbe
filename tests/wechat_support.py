"""Fixtures shared by the WeChat tests: a loopback emulator and an app wired to it.

The root conftest loads this module with ``pytest_plugins``, so every test can ask for these
fixtures by name; they depend on the root conftest's ``app_config``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.wechat.config import (
    DEV_APP_ID,
    DEV_APP_SECRET,
    DEV_CARD_ID,
    DEV_CARD_ID_UPGRADED,
    DEV_ENCODING_AES_KEY,
    DEV_TOKEN,
)
from bot.wechat.emulator import RunningEmulator, WebhookSender, serve
from bot.wechat.emulator.server import Emulator


@pytest.fixture
def emulator_other_apps() -> dict[str, str]:
    """Apps the emulator serves besides the mini-program (app id -> secret); none by default."""
    return {}


@pytest.fixture
def emulator_card_owner() -> str | None:
    """The app owning the card classes (the official account); the mini-program's by default."""
    return None


@pytest.fixture
def running_emulator(
    emulator_other_apps: dict[str, str], emulator_card_owner: str | None
) -> Iterator[RunningEmulator]:
    """The emulator over real HTTP on a free 127.0.0.1 port."""
    emulator = Emulator(
        DEV_APP_ID,
        DEV_APP_SECRET,
        known_card_ids=(DEV_CARD_ID, DEV_CARD_ID_UPGRADED),
        other_apps=emulator_other_apps,
        card_owner=emulator_card_owner,
    )
    running = serve(emulator)
    yield running
    running.stop()


@pytest.fixture
def emulator(running_emulator: RunningEmulator) -> Emulator:
    """The emulator's state and scripting interface."""
    state: Emulator = running_emulator.emulator
    return state


@pytest.fixture
def wechat_app_config(
    app_config: dict[str, Any], running_emulator: RunningEmulator
) -> dict[str, Any]:
    """Test settings pointing the WeChat client at the emulator (dev credentials, card pack on)."""
    app_config.update(
        wechat_api_base=running_emulator.base_url,
        wechat_outbox_dispatch="sync",
        wechat_card_enabled=True,
        wechat_http_timeout_s=1,
    )
    return app_config


@pytest.fixture
def wechat_app(wechat_app_config: dict[str, Any], app: Any) -> Any:
    """The app, built after ``wechat_app_config`` was applied."""
    return app


@pytest.fixture
def wechat_client(wechat_app: Any) -> Any:
    """A test client of :func:`wechat_app`."""
    return wechat_app.test_client()


@pytest.fixture
def sender() -> WebhookSender:
    """Pushes events signed and encrypted with the development account's keys."""
    return WebhookSender(DEV_TOKEN, DEV_ENCODING_AES_KEY, DEV_APP_ID)
