"""Configuration: development defaults, production refusal, type errors."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, ConfigError, load_settings

STRONG = base64.b64encode(b"k" * 32).decode()


def _production_env(**changes: str) -> dict[str, str]:
    env = {
        "WANGZHENG_ENV": "production",
        "WANGZHENG_SECRET_KEY": "s" * 40,
        "WANGZHENG_ADMIN_KEY": "a" * 40,
        "WANGZHENG_DATA_KEY": STRONG,
        "WANGZHENG_HASH_KEY": STRONG,
        "WANGZHENG_MERCHANT_KEY_PEPPER": STRONG,
        "WANGZHENG_WECHAT_APP_ID": "wx0123456789abcdef",
        "WANGZHENG_WECHAT_APP_SECRET": "secret-from-the-wechat-console",
        "WANGZHENG_WECHAT_TOKEN": "callback-token",
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v}


def test_development_generates_secrets_once(tmp_path: Path) -> None:
    env = {"WANGZHENG_INSTANCE_PATH": str(tmp_path)}
    first = load_settings(env)
    second = load_settings(env)
    assert len(first.data_key) == 32 and len(first.hash_key) == 32
    assert first.data_key == second.data_key and first.secret_key == second.secret_key
    assert first.database_url == f"sqlite:///{tmp_path / 'wangzheng.sqlite3'}"
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
    assert set(json.loads((tmp_path / "secrets.json").read_text())) >= {"DATA_KEY", "HASH_KEY"}


def test_production_with_all_secrets_loads() -> None:
    settings = load_settings(_production_env())
    assert settings.is_production and settings.data_key == b"k" * 32


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "DATA_KEY", "HASH_KEY", "ADMIN_KEY", "MERCHANT_KEY_PEPPER", "WECHAT_APP_SECRET"],
)
def test_production_refuses_missing_secret(name: str) -> None:
    with pytest.raises(ConfigError, match=f"WANGZHENG_{name}"):
        load_settings(_production_env(**{f"WANGZHENG_{name}": ""}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECRET_KEY", "short"),
        ("DATA_KEY", base64.b64encode(b"x" * 16).decode()),
        ("HASH_KEY", "not base64 at all!"),
    ],
)
def test_production_refuses_weak_secret(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"WANGZHENG_{name}"):
        load_settings(_production_env(**{f"WANGZHENG_{name}": value}))


@pytest.mark.parametrize("base", ["http://127.0.0.1:9000", "https://localhost/emulator"])
def test_production_refuses_emulator_api_base(base: str) -> None:
    with pytest.raises(ConfigError, match="WANGZHENG_WECHAT_API_BASE"):
        load_settings(_production_env(WANGZHENG_WECHAT_API_BASE=base))


def test_bad_values_are_named() -> None:
    with pytest.raises(ConfigError, match="WANGZHENG_ENV"):
        load_settings({"WANGZHENG_ENV": "staging"})
    with pytest.raises(ConfigError, match="WANGZHENG_MAX_BODY_BYTES"):
        load_settings({"WANGZHENG_ENV": "testing", "WANGZHENG_MAX_BODY_BYTES": "lots"})


def test_production_start_without_secrets_exits_nonzero_naming_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGZHENG_")}
    env.update({"WANGZHENG_ENV": "production", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "WANGZHENG_SECRET_KEY is required in production" in result.stderr
    assert not (tmp_path / "secrets.json").exists()


def test_readme_documents_every_setting() -> None:
    import dataclasses

    from bot.config import Settings

    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [
        f"WANGZHENG_{f.name.upper()}"
        for f in dataclasses.fields(Settings)
        if f"`WANGZHENG_{f.name.upper()}`" not in readme
    ]
    assert missing == []
