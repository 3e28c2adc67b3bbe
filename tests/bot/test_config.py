"""Configuration: the production default, development secrets, production refusal, strict parsing,
and the README settings table kept true to the code."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from bot.config import PREFIX, PROJECT_ROOT, ConfigError, Settings, load_settings
from tests.bot.config_env import SetEnv, production_env


def test_development_generates_secrets_once(environ: SetEnv, tmp_path: Path) -> None:
    environ({"WANGZHENG_ENV": "development", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    first = load_settings()
    second = load_settings()
    assert len(first.data_key) == 32 and len(first.hash_key) == 32
    assert first.data_key == second.data_key and first.admin_key == second.admin_key
    assert first.database_url == f"sqlite:///{tmp_path / 'wangzheng.sqlite3'}"
    assert first.face_model_root == tmp_path / "face"
    assert oct((tmp_path / "secrets.json").stat().st_mode & 0o777) == "0o600"
    assert set(json.loads((tmp_path / "secrets.json").read_text())) >= {"DATA_KEY", "HASH_KEY"}


def test_production_with_all_secrets_loads(environ: SetEnv) -> None:
    environ(production_env())
    settings = load_settings()
    assert settings.is_production and settings.data_key == b"k" * 32


def test_unset_env_means_production(environ: SetEnv, tmp_path: Path) -> None:
    environ({"WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(ConfigError, match="required in production"):
        load_settings()
    assert not (tmp_path / "secrets.json").exists()
    environ({k: v for k, v in production_env().items() if k != "WANGZHENG_ENV"})
    assert load_settings().is_production


@pytest.mark.parametrize(
    "name",
    ["DATA_KEY", "HASH_KEY", "ADMIN_KEY", "MERCHANT_KEY_PEPPER", "AUDIT_KEY", "WECHAT_APP_SECRET"],
)
def test_production_refuses_missing_secret(environ: SetEnv, name: str) -> None:
    environ(production_env(**{f"WANGZHENG_{name}": ""}))
    with pytest.raises(ConfigError, match=f"WANGZHENG_{name}"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ADMIN_KEY", "short"),
        ("DATA_KEY", base64.b64encode(b"x" * 16).decode()),
        ("HASH_KEY", "not base64 at all!"),
    ],
)
def test_production_refuses_weak_secret(environ: SetEnv, name: str, value: str) -> None:
    environ(production_env(**{f"WANGZHENG_{name}": value}))
    with pytest.raises(ConfigError, match=f"WANGZHENG_{name}") as caught:
        load_settings()
    # A mistyped secret never reaches a log, not even through a chained exception.
    assert value not in "".join(traceback.format_exception(caught.value))


def test_secret_key_is_gone() -> None:
    """No Flask session exists, so no session key is read, generated or required."""
    assert "secret_key" not in Settings.model_fields
    with pytest.raises(ConfigError, match="unknown setting 'secret_key'"):
        load_settings({"env": "testing", "secret_key": "s" * 40})


@pytest.mark.parametrize("base", ["http://127.0.0.1:9000", "https://localhost/emulator"])
def test_production_refuses_emulator_api_base(environ: SetEnv, base: str) -> None:
    environ(production_env(WANGZHENG_WECHAT_API_BASE=base))
    with pytest.raises(ConfigError, match="WANGZHENG_WECHAT_API_BASE"):
        load_settings()


def test_bad_values_are_named(environ: SetEnv, tmp_path: Path) -> None:
    environ({"WANGZHENG_ENV": "staging"})
    with pytest.raises(ConfigError, match="WANGZHENG_ENV"):
        load_settings()
    environ({"WANGZHENG_ENV": "testing", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    environ({"WANGZHENG_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ConfigError, match="WANGZHENG_MAX_BODY_BYTES"):
        load_settings()


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("0", False),
        ("No", False),
    ],
)
def test_flags_accept_only_the_six_words(
    environ: SetEnv, tmp_path: Path, word: str, expected: bool
) -> None:
    environ({"WANGZHENG_ENV": "testing", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    environ({"WANGZHENG_FACE_LOAD_ON_START": word})
    assert load_settings().face_load_on_start is expected


@pytest.mark.parametrize("word", ["ture", "on", "off", "y", "t", "2", "enabled"])
def test_a_flag_typo_is_an_error_not_false(environ: SetEnv, tmp_path: Path, word: str) -> None:
    environ({"WANGZHENG_ENV": "testing", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    environ({"WANGZHENG_WECHAT_CARD_ENABLED": word})
    with pytest.raises(ConfigError, match="WANGZHENG_WECHAT_CARD_ENABLED: must be one of"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACE_LIVENESS_STEPS", "0"),
        ("FACE_LIVENESS_STEPS", "3"),
        ("MAX_BODY_BYTES", "-1"),
        ("FACE_MAX_BRIGHTNESS", "256"),
        ("FACE_MAX_YAW_DEG", "91"),
        ("PRESENTATION_TTL_S", "0"),
        ("MERCHANT_RATE_LIMIT_PER_MIN", "0"),
        ("WECHAT_HTTP_TIMEOUT_S", "100000"),
    ],
)
def test_numbers_stay_in_range(environ: SetEnv, tmp_path: Path, name: str, value: str) -> None:
    environ({"WANGZHENG_ENV": "testing", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    environ({f"WANGZHENG_{name}": value})
    with pytest.raises(ConfigError, match=f"WANGZHENG_{name}: Input should be"):
        load_settings()


def test_brightness_window_must_be_open(environ: SetEnv, tmp_path: Path) -> None:
    environ({"WANGZHENG_ENV": "testing", "WANGZHENG_INSTANCE_PATH": str(tmp_path)})
    environ({"WANGZHENG_FACE_MIN_BRIGHTNESS": "200", "WANGZHENG_FACE_MAX_BRIGHTNESS": "100"})
    with pytest.raises(ConfigError, match="WANGZHENG_FACE_MIN_BRIGHTNESS must be below"):
        load_settings()


def test_overrides_win_and_are_validated_too(environ: SetEnv, tmp_path: Path) -> None:
    environ({"WANGZHENG_ENV": "development", "WANGZHENG_PRESENTATION_TTL_S": "90"})
    settings = load_settings({"env": "testing", "instance_path": tmp_path})
    assert settings.is_testing and settings.presentation_ttl_s == 90
    with pytest.raises(ConfigError, match="unknown setting 'presentaton_ttl_s'"):
        load_settings({"instance_path": tmp_path, "presentaton_ttl_s": 5})
    with pytest.raises(ConfigError, match="WANGZHENG_PRESENTATION_TTL_S"):
        load_settings({"instance_path": tmp_path, "presentation_ttl_s": 5})


def _start_wsgi(tmp_path: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update({"WANGZHENG_INSTANCE_PATH": str(tmp_path), **env_vars})
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("env", [{"WANGZHENG_ENV": "production"}, {}], ids=["production", "unset"])
def test_start_without_secrets_exits_nonzero_naming_variable(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = _start_wsgi(tmp_path, **env)
    assert result.returncode != 0
    assert "WANGZHENG_DATA_KEY is required in production" in result.stderr
    assert not (tmp_path / "secrets.json").exists()


def _readme_settings() -> dict[str, str | None]:
    """The README settings table: each variable and its default (None when not a literal)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str | None] = {}
    for line in section.splitlines():
        if not line.startswith("| `WANGZHENG_"):
            continue
        variables_cell, default_cell = (c.strip() for c in line.strip("|").split("|")[:2])
        variables = re.findall(r"`(WANGZHENG_[A-Z0-9_]+)`", variables_cell)
        defaults = default_cell.split(" / ")
        if len(defaults) != len(variables):
            defaults = [""] * len(variables)
        for name, default in zip(variables, defaults, strict=True):
            literal = re.match(r"`([^`]*)`", default.strip())
            table[name] = literal.group(1) if literal else None
    return table


def _documented_form(value: object) -> str | None:
    """How a field's default is written in the README, or None when it is not a plain literal."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | str) and value != "":
        return str(value)
    return None


def test_readme_documents_every_setting_and_nothing_else() -> None:
    table = _readme_settings()
    fields = {PREFIX + name.upper(): field for name, field in Settings.model_fields.items()}
    assert sorted(set(fields) - set(table)) == []  # every setting documented
    gunicorn_conf = (PROJECT_ROOT / "gunicorn.conf.py").read_text()
    unknown = [n for n in table if n not in fields and f'"{n}"' not in gunicorn_conf]
    assert unknown == []  # no row for a setting that no longer exists
    wrong = {
        name: (table[name], documented)
        for name, field in fields.items()
        if table[name] is not None
        and (documented := _documented_form(field.default)) is not None
        and table[name] != documented
    }
    assert wrong == {}  # the defaults written in the README are the code's


def test_face_doc_links_to_the_readme_instead_of_repeating_the_table() -> None:
    face_doc = (PROJECT_ROOT / "docs" / "face.md").read_text()
    assert "README.md#configuration" in face_doc
    assert not re.search(r"^\| `WANGZHENG_", face_doc, re.MULTILINE)
