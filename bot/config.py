"""Settings read from ``WANGZHENG_*`` environment variables.

Invariants:
- In production every secret is present and strong, or :func:`load_settings` raises
  :class:`ConfigError` naming the variable; the service never starts on a default secret.
- In development a missing secret is generated once and kept under ``instance/secrets.json``
  (mode 0600), so the quick start needs no set-up and restarts keep sessions and ciphertexts valid.
- Settings are immutable after load; tests pass overrides to ``create_app(config=...)``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "testing", "production")
PREFIX = "WANGZHENG_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
EMULATOR_HINTS = ("127.0.0.1", "localhost", "emulator")

# Secrets generated in development: env name (without prefix) -> random bytes.
_SECRET_BYTES = {
    "SECRET_KEY": 32,
    "ADMIN_KEY": 32,
    "DATA_KEY": 32,
    "HASH_KEY": 32,
    "MERCHANT_KEY_PEPPER": 32,
}
_STRING_SECRETS = {"secret_key", "admin_key"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the offending variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads. Field names match the env names without the prefix."""

    env: str = "development"
    instance_path: Path = DEFAULT_INSTANCE
    database_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    data_key: bytes = b""
    hash_key: bytes = b""
    merchant_key_pepper: bytes = b""
    admin_key: str = ""
    max_body_bytes: int = 8 * 1024 * 1024
    log_level: str = "INFO"
    # Face engine
    face_model_root: Path = DEFAULT_INSTANCE / "face"
    face_model_pack: str = "yunet-sface"
    face_load_on_start: bool = False
    face_max_image_bytes: int = 5 * 1024 * 1024
    face_max_image_pixels: int = 24_000_000
    face_min_interocular_px: int = 40
    face_min_sharpness: int = 60
    face_min_brightness: int = 50
    face_max_brightness: int = 210
    face_max_yaw_deg: int = 25
    face_liveness_steps: int = 2
    face_liveness_max_yaw_deg: int = 45
    face_liveness_yaw_margin_deg: int = 8
    face_ort_threads: int = 1
    # WeChat
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_encoding_aes_key: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_replay_window_s: int = 300
    wechat_card_enabled: bool = False
    wechat_card_id: str = ""
    wechat_mp_pass_page: str = "pages/pass/index"  # noqa: S105 - a page path, not a secret
    wechat_max_body_bytes: int = 64 * 1024
    wechat_http_timeout_s: int = 5
    wechat_tpl_credential_issued: str = ""
    wechat_tpl_credential_removed: str = ""
    wechat_tpl_verified: str = ""
    wechat_outbox_dispatch: str = ""  # thread | sync | off; "" = sync in testing, else thread
    bind: str = "127.0.0.1:8000"  # gunicorn's address; the dev WeChat emulator is reached here
    # Credentials and enrolment
    token_issuer: str = "wangzheng"  # noqa: S105 - an issuer name, not a secret
    presentation_ttl_s: int = 60
    enrol_max_failures_per_id: int = 5
    enrol_max_failures_per_openid: int = 10
    merchant_rate_limit_per_min: int = 600
    presentation_skew_s: int = 10
    signing_key_grace_s: int = 86400

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.env == "production"

    @property
    def is_testing(self) -> bool:
        """True when running the test suite."""
        return self.env == "testing"


_INT_FIELDS = {f.name for f in dataclasses.fields(Settings) if f.type in ("int", int)}
_BOOL_FIELDS = {f.name for f in dataclasses.fields(Settings) if f.type in ("bool", bool)}
_PATH_FIELDS = {"instance_path", "face_model_root"}
_KEY_FIELDS = {"data_key", "hash_key", "merchant_key_pepper"}


def _decode_key(name: str, raw: str) -> bytes:
    """Decode a base64 key of at least 32 bytes, or raise naming the variable."""
    try:
        value = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{PREFIX}{name.upper()} is not valid base64") from exc
    if len(value) < 32:
        raise ConfigError(f"{PREFIX}{name.upper()} must decode to at least 32 bytes")
    return value[:32] if name == "data_key" else value


def _coerce(name: str, raw: Any) -> Any:
    """Turn an env string (or an override value) into the field's type."""
    if not isinstance(raw, str):
        return raw
    if name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{name.upper()} must be an integer") from exc
    if name in _BOOL_FIELDS:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if name in _PATH_FIELDS:
        return Path(raw)
    if name in _KEY_FIELDS:
        return _decode_key(name, raw)
    return raw


def _dev_secrets(instance: Path) -> dict[str, str]:
    """Load or create the development secrets file under the instance folder."""
    path = instance / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    changed = False
    for name, size in _SECRET_BYTES.items():
        if name not in stored:
            stored[name] = base64.b64encode(secrets.token_bytes(size)).decode()
            changed = True
    if changed:
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return stored


def _check_production(values: dict[str, Any]) -> None:
    """Refuse weak or missing secrets and the WeChat emulator in production."""
    for name in ("secret_key", "data_key", "hash_key", "merchant_key_pepper", "admin_key"):
        value = values.get(name)
        if not value:
            raise ConfigError(f"{PREFIX}{name.upper()} is required in production")
        if name in ("secret_key", "admin_key") and len(str(value)) < 32:
            raise ConfigError(
                f"{PREFIX}{name.upper()} must be at least 32 characters in production"
            )
    for name in ("wechat_app_id", "wechat_app_secret", "wechat_token"):
        if not values.get(name):
            raise ConfigError(f"{PREFIX}{name.upper()} is required in production")
    base = str(values.get("wechat_api_base", Settings.wechat_api_base))
    if not base.startswith("https://") or any(hint in base for hint in EMULATOR_HINTS):
        raise ConfigError(f"{PREFIX}WECHAT_API_BASE must be the real WeChat API in production")


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build :class:`Settings` from the environment, then apply ``overrides`` (tests)."""
    environ = os.environ if environ is None else environ
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for name in names:
        raw = environ.get(PREFIX + name.upper())
        if raw not in (None, ""):
            values[name] = _coerce(name, raw)
    for name, raw in (overrides or {}).items():
        if name not in names:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, raw)
    env = values.setdefault("env", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"{PREFIX}ENV must be one of {', '.join(ENVIRONMENTS)}")
    instance = Path(values.setdefault("instance_path", DEFAULT_INSTANCE))
    values.setdefault("face_model_root", instance / "face")
    if env == "production":
        _check_production(values)
    else:
        generated = _dev_secrets(instance)
        for name in _SECRET_BYTES:
            key = name.lower()
            if not values.get(key):
                raw = generated[name]
                values[key] = raw if key in _STRING_SECRETS else _decode_key(key, raw)
    values.setdefault("database_url", f"sqlite:///{instance / 'wangzheng.sqlite3'}")
    return Settings(**values)
