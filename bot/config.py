"""Settings read from ``WANGZHENG_*`` environment variables, parsed by pydantic-settings.

Invariants:
- Every value is validated when :class:`Settings` is built: booleans accept only
  true/false/1/0/yes/no, numbers stay inside their ranges, choices are closed. A bad value raises
  :class:`ConfigError` naming the variable (``WANGZHENG_…``) and never echoing the value, so a
  mistyped secret does not end up in a log.
- ``WANGZHENG_ENV`` unset means production. In production every secret is present and strong, or
  :func:`load_settings` raises :class:`ConfigError` naming the variable; the service never starts
  on a default secret.
- In development and testing a missing secret is generated once and kept under
  ``instance/secrets.json`` (mode 0600), so the quick start needs no set-up and restarts keep
  sessions and ciphertexts valid.
- Settings are immutable after load; tests pass overrides to ``create_app(config=...)``.

Adding a setting: add a typed field below (``Flag`` for a boolean, ``Annotated[int, Field(ge=…,
le=…)]`` for a number, ``Literal[...]`` for a choice) and a row in the README settings table;
``tests/bot/test_config.py`` checks that table against these fields and their defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.crypto import Keyring

PREFIX = "WANGZHENG_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
EMULATOR_HINTS = ("127.0.0.1", "localhost", "emulator")
FLAG_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

# Secrets generated in development: field name -> random bytes.
_GENERATED_SECRETS = {
    "admin_key": 32,
    "data_key": 32,
    "hash_key": 32,
    "merchant_key_pepper": 32,
    "audit_key": 32,
}
_STRING_SECRETS = {"admin_key"}
_PRODUCTION_REQUIRED = (
    "data_key",
    "hash_key",
    "merchant_key_pepper",
    "audit_key",
    "admin_key",
    "wechat_app_id",
    "wechat_app_secret",
    "wechat_token",
)


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the offending variable."""


def _flag(raw: Any) -> Any:
    """A boolean from exactly true/false/1/0/yes/no (any case); anything else is an error."""
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word not in FLAG_WORDS:
        raise ValueError("must be one of true, false, 1, 0, yes, no")
    return FLAG_WORDS[word]


def _key(raw: Any) -> Any:
    """A key given as base64 (env) or bytes (tests): empty, or at least 32 bytes."""
    if isinstance(raw, str):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
    if isinstance(raw, bytes) and raw and len(raw) < 32:
        raise ValueError("must decode to at least 32 bytes")
    return raw


def _upper(raw: Any) -> Any:
    return raw.strip().upper() if isinstance(raw, str) else raw


def _key_list(raw: Any) -> Any:
    """Comma-separated base64 keys (retired keys of a rotation), each at least 32 bytes."""
    if isinstance(raw, str):
        for part in filter(None, (piece.strip() for piece in raw.split(","))):
            _key(part)
    return raw


Flag = Annotated[bool, BeforeValidator(_flag)]
KeyList = Annotated[str, AfterValidator(_key_list)]
Key = Annotated[bytes, BeforeValidator(_key)]
AesKey = Annotated[bytes, BeforeValidator(_key), AfterValidator(lambda key: key[:32])]
Seconds = Annotated[int, Field(ge=1, le=86_400)]
Bytes = Annotated[int, Field(ge=1024, le=1 << 30)]
Degrees = Annotated[int, Field(ge=0, le=90)]


class Settings(BaseSettings):
    """Every setting the service reads. Field names match the env names without the prefix."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        case_sensitive=False,
        env_ignore_empty=True,  # VAR= means "unset", as a shell user expects
        extra="forbid",
        frozen=True,
        validate_default=False,
    )

    env: Literal["development", "testing", "production"] = "production"
    instance_path: Path = DEFAULT_INSTANCE
    database_url: str = ""  # "" = SQLite in the instance folder
    redis_url: str = ""
    # Bounds on waiting for a dependency: a hung one costs a request ~2 s and a 503, not a hang.
    database_connect_timeout_s: Annotated[int, Field(ge=2, le=60)] = 2  # libpq's minimum is 2
    database_statement_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 1500
    database_pool_timeout_s: Annotated[int, Field(ge=1, le=60)] = 2
    redis_socket_timeout_ms: Annotated[int, Field(ge=50, le=60_000)] = 1000
    readiness_timeout_ms: Annotated[int, Field(ge=50, le=60_000)] = 1000
    data_key: AesKey = b""  # AES-256: the first 32 bytes
    hash_key: Key = b""
    merchant_key_pepper: Key = b""
    data_keys_retired: KeyList = ""  # comma list; still unseal, never seal (key rotation)
    hash_keys_retired: KeyList = ""  # comma list; lookups also try these during a rotation
    audit_key: Key = b""  # HMAC key of the audit chain; its own secret, never rotated with data
    admin_key: str = ""
    max_body_bytes: Bytes = 8 * 1024 * 1024
    # "" = /metrics open outside production and not served in production
    metrics_token: str = ""
    trusted_proxies: Annotated[int, Field(ge=0, le=5)] = 0  # X-Forwarded-* hops to believe
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)
    ] = "INFO"
    # Face engine
    face_model_root: Path = DEFAULT_INSTANCE / "face"  # default: <instance_path>/face
    face_model_pack: str = Field("yunet-sface", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    face_load_on_start: Flag = False
    face_max_image_bytes: Bytes = 5 * 1024 * 1024
    face_max_image_pixels: Annotated[int, Field(ge=10_000, le=400_000_000)] = 24_000_000
    face_min_interocular_px: Annotated[int, Field(ge=1, le=2000)] = 40
    # Reference photos (registry import, ID card chip: 102x126 px, eyes 25-30 px apart) have
    # their own, lower limit; see docs/face.md for the measured effect on matching.
    face_reference_min_interocular_px: Annotated[int, Field(ge=1, le=2000)] = 20
    # Subtracted from the pack threshold when the reference is a 102x126 chip photo (the
    # terminal's live-face check); docs/face.md has the measurement behind 0.05.
    face_chip_threshold_relief: Annotated[float, Field(ge=0, le=0.2)] = 0.05
    face_min_sharpness: Annotated[int, Field(ge=0, le=100_000)] = 60
    face_min_brightness: Annotated[int, Field(ge=0, le=255)] = 50
    face_max_brightness: Annotated[int, Field(ge=0, le=255)] = 210
    face_max_yaw_deg: Degrees = 25
    face_liveness_steps: Annotated[int, Field(ge=1, le=2)] = 2
    face_liveness_max_yaw_deg: Degrees = 45
    face_liveness_yaw_margin_deg: Annotated[int, Field(ge=1, le=45)] = 8
    face_ort_threads: Annotated[int, Field(ge=1, le=64)] = 1
    # WeChat
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_encoding_aes_key: str = ""
    # The official account (公众号), when it is not the mini-program's own app id.
    wechat_oa_app_id: str = ""
    wechat_oa_app_secret: str = ""
    # How event-driven messages go out: mini-program subscribe or official-account template.
    wechat_notify_channel: Literal["subscribe", "template"] = "subscribe"
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_replay_window_s: Annotated[int, Field(ge=10, le=3600)] = 300
    wechat_card_enabled: Flag = False
    wechat_card_id: str = ""
    # The colour class for upgraded credentials (the class above is the light, grey one).
    wechat_card_id_upgraded: str = ""
    wechat_mp_pass_page: str = "pages/pass/index"  # noqa: S105 - a page path, not a secret
    wechat_mp_dispute_page: str = "pages/dispute/index"
    wechat_mp_lost_page: str = "pages/lost/index"
    wechat_max_body_bytes: Bytes = 64 * 1024
    wechat_http_timeout_s: Annotated[int, Field(ge=1, le=120)] = 5
    wechat_tpl_credential_issued: str = ""
    wechat_tpl_credential_removed: str = ""
    wechat_tpl_verified: str = ""
    wechat_tpl_credential_taken_over: str = ""
    wechat_tpl_credential_superseded: str = ""
    wechat_tpl_card_reported_lost: str = ""
    wechat_tpl_bill_paid: str = ""
    wechat_tpl_bill_refunded: str = ""
    # thread | sync | off; "" = sync in testing, else thread
    wechat_outbox_dispatch: Literal["", "thread", "sync", "off"] = ""
    # Non-tax payments (WeChat Pay API v3); the wechat_pay_* values are required in production
    # when payments are enabled, and come from the emulator in development and testing.
    payments_enabled: Flag = False
    payments_order_ttl_s: Annotated[int, Field(ge=60, le=7200)] = 900
    payments_notify_window_s: Annotated[int, Field(ge=10, le=3600)] = 300
    wechat_pay_mch_id: str = ""
    wechat_pay_app_id: str = ""  # "" = WANGZHENG_WECHAT_APP_ID
    wechat_pay_cert_serial_no: str = ""
    wechat_pay_private_key_file: str = ""  # the merchant's apiclient_key.pem
    wechat_pay_apiv3_key: str = ""
    wechat_pay_api_base: str = "https://api.mch.weixin.qq.com"
    wechat_pay_notify_url: str = ""
    wechat_pay_cert_dir: str = ""  # "" = <instance>/wechatpay/certs
    bind: str = "127.0.0.1:8000"  # gunicorn's address; the dev WeChat emulator is reached here
    # Credentials and enrolment
    token_issuer: str = Field("wangzheng", min_length=1)
    presentation_ttl_s: Annotated[int, Field(ge=10, le=3600)] = 60
    enrol_max_failures_per_id: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    enrol_max_failures_per_openid: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    # engine (our head-turn check and face match) | wechat (WeChat 人脸核身, delegated)
    enrol_liveness: Literal["engine", "wechat"] = "engine"
    # Re-issues of one person's credential to a different account, per trailing day.
    enrol_max_other_account_reissues_per_day: Annotated[int, Field(ge=1, le=1000)] = 1
    merchant_rate_limit_per_min: Annotated[int, Field(ge=1, le=1_000_000)] = 600
    # Login nonces per client address per minute (the endpoint is unauthenticated; behind a
    # proxy the address is the one WANGZHENG_PROXY_HOPS trusts).
    login_nonce_per_client_per_min: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    # Lost-card reports per citizen per day (each one is idempotent, but revokes and notifies).
    report_lost_per_citizen_per_day: Annotated[int, Field(ge=1, le=1000)] = 5
    presentation_skew_s: Annotated[int, Field(ge=0, le=300)] = 10
    # WeChat SOTER unlock: how long a challenge is good for, and how long after a verified
    # unlock presentations may be minted when the citizen switched the unlock on.
    unlock_challenge_ttl_s: Annotated[int, Field(ge=10, le=600)] = 120
    unlock_window_s: Annotated[int, Field(ge=10, le=1800)] = 120
    signing_key_grace_s: Annotated[int, Field(ge=0, le=30 * 86_400)] = 86400

    def __init__(self, **values: Any) -> None:
        """Validate; a bad value raises :class:`ConfigError` naming its variable, not its value."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None  # the chained error would echo the value

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """Paths that default to places inside the instance folder."""
        if isinstance(data, dict):
            instance = Path(data.get("instance_path") or DEFAULT_INSTANCE)
            if not data.get("face_model_root"):
                data["face_model_root"] = instance / "face"
            if not data.get("database_url"):
                data["database_url"] = f"sqlite:///{instance / 'wangzheng.sqlite3'}"
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.face_min_brightness >= self.face_max_brightness:
            raise ValueError(
                f"{PREFIX}FACE_MIN_BRIGHTNESS must be below {PREFIX}FACE_MAX_BRIGHTNESS"
            )
        if bool(self.wechat_oa_app_id) != bool(self.wechat_oa_app_secret):
            raise ValueError(
                f"{PREFIX}WECHAT_OA_APP_ID and {PREFIX}WECHAT_OA_APP_SECRET go together"
            )
        return self

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.env == "production"

    @property
    def data_keyring(self) -> Keyring:
        """The data key plus the retired data keys that still unseal."""
        return Keyring(self.data_key, tuple(_decode_keys(self.data_keys_retired, 32)))

    @property
    def hash_keyring(self) -> Keyring:
        """The hash key plus the retired hash keys that lookups still try."""
        return Keyring(self.hash_key, tuple(_decode_keys(self.hash_keys_retired, None)))

    @property
    def is_testing(self) -> bool:
        """True when running the test suite."""
        return self.env == "testing"


def _decode_keys(listed: str, size: int | None) -> list[bytes]:
    keys = [base64.b64decode(part.strip()) for part in listed.split(",") if part.strip()]
    return [key[:size] for key in keys] if size else keys


def _describe(exc: ValidationError) -> str:
    """One line per bad value, each naming the variable; input values are left out on purpose."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        if not loc:
            lines.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        name = str(loc[0])
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {name!r}")
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{PREFIX}{name.upper()}: {message}")
    return "; ".join(lines)


def _dev_secrets(instance: Path) -> dict[str, str]:
    """Load or create the development secrets file under the instance folder."""
    path = instance / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    changed = False
    for name, size in _GENERATED_SECRETS.items():
        if name.upper() not in stored:
            stored[name.upper()] = base64.b64encode(secrets.token_bytes(size)).decode()
            changed = True
    if changed:
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return stored


def _check_production(settings: Settings) -> None:
    """Refuse weak or missing secrets and the WeChat emulator in production."""
    for name in _PRODUCTION_REQUIRED:
        if not getattr(settings, name):
            raise ConfigError(f"{PREFIX}{name.upper()} is required in production")
    if len(settings.admin_key) < 32:
        raise ConfigError(f"{PREFIX}ADMIN_KEY must be at least 32 characters in production")
    if settings.metrics_token and len(settings.metrics_token) < 32:
        raise ConfigError(f"{PREFIX}METRICS_TOKEN must be at least 32 characters in production")
    base = settings.wechat_api_base
    if not base.startswith("https://") or any(hint in base for hint in EMULATOR_HINTS):
        raise ConfigError(f"{PREFIX}WECHAT_API_BASE must be the real WeChat API in production")
    if settings.payments_enabled:
        _check_production_payments(settings)


def _check_production_payments(settings: Settings) -> None:
    """With payments enabled, the WeChat Pay merchant secrets are present and strong."""
    for name in ("wechat_pay_mch_id", "wechat_pay_cert_serial_no", "wechat_pay_notify_url"):
        if not getattr(settings, name):
            raise ConfigError(f"{PREFIX}{name.upper()} is required when payments are enabled")
    apiv3 = settings.wechat_pay_apiv3_key
    # WeChat's APIv3 key is exactly 32 characters; a repetitive one is a placeholder.
    if len(apiv3) != 32 or len(set(apiv3)) < 12:
        raise ConfigError(f"{PREFIX}WECHAT_PAY_APIV3_KEY must be 32 random characters")
    key_file = Path(settings.wechat_pay_private_key_file or "/nonexistent")
    if not key_file.is_file():
        raise ConfigError(f"{PREFIX}WECHAT_PAY_PRIVATE_KEY_FILE must name the merchant key file")
    if _rsa_bits(key_file) < 2048:
        raise ConfigError(f"{PREFIX}WECHAT_PAY_PRIVATE_KEY_FILE must hold an RSA key of 2048+ bits")
    for name in ("wechat_pay_api_base", "wechat_pay_notify_url"):
        url = getattr(settings, name)
        if not url.startswith("https://") or any(hint in url for hint in EMULATOR_HINTS):
            raise ConfigError(f"{PREFIX}{name.upper()} must be a public https URL in production")


def _rsa_bits(path: Path) -> int:
    """The size of the RSA private key in ``path``; 0 when it is not one."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError):
        return 0
    return key.key_size if isinstance(key, rsa.RSAPrivateKey) else 0


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build :class:`Settings` from ``WANGZHENG_*`` in the environment plus ``overrides`` (tests).

    Overrides win over the environment. Outside production, missing secrets are filled from
    (or generated into) ``<instance_path>/secrets.json``.
    """
    values = dict(overrides or {})
    settings = Settings(**values)
    if settings.is_production:
        _check_production(settings)
        return settings
    generated = _dev_secrets(settings.instance_path)
    missing = {
        name: generated[name.upper()] for name in _GENERATED_SECRETS if not getattr(settings, name)
    }
    if not missing:
        return settings
    return Settings(**{**values, **missing})
