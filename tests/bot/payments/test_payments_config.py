"""Production refuses to enable payments on a missing or weak WeChat Pay secret or an emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import ConfigError, load_settings
from tests.bot.config_env import SetEnv, production_env

APIV3 = "Q7w9Ez4RtY2uI8oP3aS6dF1gH5jK0lZx"


def _key_file(tmp_path: Path, bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path = tmp_path / f"apiclient_key_{bits}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _payments_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    values = {
        "WANGZHENG_PAYMENTS_ENABLED": "true",
        "WANGZHENG_WECHAT_PAY_MCH_ID": "1230000109",
        "WANGZHENG_WECHAT_PAY_CERT_SERIAL_NO": "444F4864EA9B34415A6F5C2E1D0B9A8877665544",
        "WANGZHENG_WECHAT_PAY_PRIVATE_KEY_FILE": _key_file(tmp_path, 2048),
        "WANGZHENG_WECHAT_PAY_APIV3_KEY": APIV3,
        "WANGZHENG_WECHAT_PAY_NOTIFY_URL": "https://id.example.gov.cn/api/v1/payments/notify",
    }
    values.update(changes)
    return production_env(**values)


def test_production_with_every_payment_secret_loads(environ: SetEnv, tmp_path: Path) -> None:
    environ(_payments_env(tmp_path))
    assert load_settings().payments_enabled


def test_production_without_payments_needs_no_payment_secret(environ: SetEnv) -> None:
    environ(production_env())
    assert not load_settings().payments_enabled


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("WANGZHENG_WECHAT_PAY_MCH_ID", "", "is required"),
        ("WANGZHENG_WECHAT_PAY_CERT_SERIAL_NO", "", "is required"),
        ("WANGZHENG_WECHAT_PAY_NOTIFY_URL", "", "is required"),
        ("WANGZHENG_WECHAT_PAY_APIV3_KEY", "", "32 random characters"),
        ("WANGZHENG_WECHAT_PAY_APIV3_KEY", "a" * 32, "32 random characters"),
        ("WANGZHENG_WECHAT_PAY_APIV3_KEY", APIV3[:31], "32 random characters"),
        ("WANGZHENG_WECHAT_PAY_PRIVATE_KEY_FILE", "", "must name the merchant key file"),
        ("WANGZHENG_WECHAT_PAY_PRIVATE_KEY_FILE", "/etc/hostname", "RSA key of 2048"),
        ("WANGZHENG_WECHAT_PAY_API_BASE", "http://127.0.0.1:8000/_emulator/wechatpay", "public"),
        ("WANGZHENG_WECHAT_PAY_NOTIFY_URL", "http://id.example.gov.cn/notify", "public https"),
    ],
)
def test_production_refuses_a_missing_or_weak_payment_setting(
    environ: SetEnv,
    tmp_path: Path,
    name: str,
    value: str,
    why: str,
) -> None:
    env = _payments_env(tmp_path)
    env.pop(name, None)
    if value:
        env[name] = value
    environ(env)
    with pytest.raises(ConfigError, match=why) as raised:
        load_settings()
    assert name in str(raised.value)
    assert APIV3 not in str(raised.value)


def test_a_small_rsa_key_is_refused(environ: SetEnv, tmp_path: Path) -> None:
    small = _key_file(tmp_path, 1024)
    environ(_payments_env(tmp_path, WANGZHENG_WECHAT_PAY_PRIVATE_KEY_FILE=small))
    with pytest.raises(ConfigError, match="2048"):
        load_settings()
