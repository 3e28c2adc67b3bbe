"""The WeChat Pay v3 configuration in force, with the development emulator's merchant.

Invariants:
- In production every value comes from the environment; :mod:`bot.config` refuses to start with
  payments enabled and a missing or weak merchant secret, or an emulator URL.
- In development and testing with no ``WANGZHENG_WECHAT_PAY_MCH_ID``, a development merchant is
  used: a fixed public merchant number and APIv3 key (accepted by nothing but the emulator) and
  an RSA merchant key generated once into ``<instance>/wechatpay/apiclient_key.pem`` (0600);
  its serial is derived from the key. The API base then points at the emulator mounted in this
  server (development) or at the one a test started (testing; the discard port otherwise).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import Settings
from bot.wechat.config import DEV_APP_ID

REAL_PAY_API_BASE = "https://api.mch.weixin.qq.com"
PAY_EMULATOR_MOUNT = "/_emulator/wechatpay"
NOTIFY_PATH = "/api/v1/payments/notify"
DEV_MCH_ID = "1900000109"
DEV_APIV3_KEY = "WangzhengDevEmulatorApiV3Key0001"


@dataclass(frozen=True)
class PayConfig:
    """Everything the WeChat Pay client needs."""

    mch_id: str
    app_id: str
    cert_serial_no: str
    private_key_pem: str
    apiv3_key: str
    api_base: str
    notify_url: str
    cert_dir: Path
    timeout_s: int
    emulated: bool

    def public_key_pem(self) -> str:
        """The merchant's public key (what WeChat Pay holds to check our signatures)."""
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


def _dev_private_key(instance: Path) -> str:
    """The development merchant key, generated once."""
    path = instance / "wechatpay" / "apiclient_key.pem"
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    return pem


def _serial_of(pem: str) -> str:
    """A stable 40-hex-digit serial for a development key."""
    return hashlib.sha256(pem.encode()).hexdigest()[:40].upper()


def resolve_pay(settings: Settings) -> PayConfig:
    """The effective WeChat Pay configuration for ``settings``."""
    emulated = not settings.is_production and not settings.wechat_pay_mch_id
    port = settings.bind.rsplit(":", 1)[-1] if ":" in settings.bind else "8000"
    api_base = settings.wechat_pay_api_base.rstrip("/")
    notify_url = settings.wechat_pay_notify_url
    if emulated:
        private_pem = _dev_private_key(settings.instance_path)
        if api_base == REAL_PAY_API_BASE:
            api_base = (
                "http://127.0.0.1:9"
                if settings.is_testing
                else f"http://127.0.0.1:{port}{PAY_EMULATOR_MOUNT}"
            )
        notify_url = notify_url or f"http://127.0.0.1:{port}{NOTIFY_PATH}"
    else:
        key_file = settings.wechat_pay_private_key_file
        private_pem = Path(key_file).read_text() if key_file else ""
    cert_dir = settings.wechat_pay_cert_dir or str(settings.instance_path / "wechatpay" / "certs")
    app_id = (
        settings.wechat_pay_app_id or settings.wechat_app_id or (DEV_APP_ID if emulated else "")
    )
    return PayConfig(
        mch_id=settings.wechat_pay_mch_id or (DEV_MCH_ID if emulated else ""),
        app_id=app_id,
        cert_serial_no=settings.wechat_pay_cert_serial_no
        or (_serial_of(private_pem) if emulated else ""),
        private_key_pem=private_pem,
        apiv3_key=settings.wechat_pay_apiv3_key or (DEV_APIV3_KEY if emulated else ""),
        api_base=api_base,
        notify_url=notify_url,
        cert_dir=Path(cert_dir),
        timeout_s=settings.wechat_http_timeout_s,
        emulated=emulated,
    )
