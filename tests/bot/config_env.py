"""The environment of a configuration test (a pytest plugin: ``tests/conftest.py``): the
``environ`` fixture starts from no ``WANGZHENG_*`` variable at all, and :func:`production_env`
is a complete production environment with strong secrets."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping

import pytest

from bot.config import PREFIX

STRONG = base64.b64encode(b"k" * 32).decode()
SetEnv = Callable[[Mapping[str, str]], None]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """An environment with no ``WANGZHENG_*`` variable but those the test sets."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)

    def _set(values: Mapping[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return _set


def production_env(**changes: str) -> dict[str, str]:
    """A complete production environment with strong secrets; ``changes`` override (an empty
    value removes the variable)."""
    env = {
        "WANGZHENG_ENV": "production",
        "WANGZHENG_ADMIN_KEY": "a" * 40,
        "WANGZHENG_DATA_KEY": STRONG,
        "WANGZHENG_HASH_KEY": STRONG,
        "WANGZHENG_MERCHANT_KEY_PEPPER": STRONG,
        "WANGZHENG_AUDIT_KEY": STRONG,
        "WANGZHENG_WECHAT_APP_ID": "wx0123456789abcdef",
        "WANGZHENG_WECHAT_APP_SECRET": "secret-from-the-wechat-console",
        "WANGZHENG_WECHAT_TOKEN": "callback-token",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v}
