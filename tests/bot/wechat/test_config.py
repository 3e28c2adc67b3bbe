"""Which WeChat configuration is in force: real credentials, or the development emulator."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, Settings
from bot.wechat.config import DEV_APP_ID, EMULATOR_MOUNT, REAL_API_BASE, resolve


def test_production_uses_the_environment_and_never_the_emulator() -> None:
    config = resolve(
        Settings(env="production", wechat_app_id="wxreal", wechat_app_secret="s", wechat_token="t")
    )
    assert not config.emulated
    assert config.app_id == "wxreal"
    assert config.api_base == REAL_API_BASE
    assert config.outbox_dispatch == "thread"
    assert config.templates["credential_issued"] == ""  # nothing is sent until configured


def test_development_without_app_id_uses_the_mounted_emulator() -> None:
    config = resolve(Settings(env="development", bind="0.0.0.0:8123"))
    assert config.emulated
    assert config.app_id == DEV_APP_ID
    assert config.api_base == f"http://127.0.0.1:8123{EMULATOR_MOUNT}"
    assert len(config.encoding_aes_key) == 43


def test_testing_reaches_no_emulator_unless_told_and_dispatches_inline() -> None:
    config = resolve(Settings(env="testing"))
    assert config.api_base == f"http://127.0.0.1:9{EMULATOR_MOUNT}"
    assert config.outbox_dispatch == "sync"
    told = resolve(Settings(env="testing", wechat_api_base="http://127.0.0.1:5555/"))
    assert told.api_base == "http://127.0.0.1:5555"


def test_development_with_an_app_id_is_real() -> None:
    config = resolve(Settings(env="development", wechat_app_id="wxmine", wechat_app_secret="s"))
    assert not config.emulated
    assert config.api_base == REAL_API_BASE


def test_unknown_dispatch_mode_is_refused() -> None:
    with pytest.raises(ConfigError):
        resolve(Settings(wechat_outbox_dispatch="celery"))


def test_emulator_is_mounted_only_in_development(make_app: Any) -> None:
    dev = make_app(env="development")
    assert "wangzheng.wechat.emulator" in dev.extensions
    test = make_app(env="testing")
    assert "wangzheng.wechat.emulator" not in test.extensions
