"""WeChat Pay API v3 through ``wechatpayv3``: the :class:`bot.payments.gateway.PaymentGateway`.

Invariants:
- The SDK is built on first use, never at import or app creation (gunicorn's master makes no
  call). wechatpayv3 hard-codes ``https://api.mch.weixin.qq.com`` and fetches the platform
  certificates while it is constructed; so the certificates are first fetched here (the SDK's
  own signing and AEAD helpers, into ``cert_dir``, where the SDK then reads them), and the SDK's
  gateway is pointed at ``api_base`` right after construction, so the same code talks to WeChat
  Pay or to the emulator.
- A notification is accepted only when its timestamp lies within the window, its serial names
  a platform certificate we hold (an unknown serial triggers at most one certificate refresh per
  :data:`REFRESH_INTERVAL_S`, so forged serials cannot make us hammer WeChat), its signature
  over ``timestamp\\nnonce\\nbody\\n`` verifies with that certificate and its resource decrypts
  under the APIv3 key (``WeChatPay.callback``). Each refusal has its own code.
- Timeouts and connection errors are :class:`PaymentProviderUnavailable` (503, Retry-After);
  a 4xx from WeChat Pay is :class:`PaymentProviderError` with WeChat's code in ``details``.
  The APIv3 key, the merchant key and ciphertexts are never logged.
"""

from __future__ import annotations

import gzip
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from cryptography import x509
from wechatpayv3 import SignType, WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, build_authorization, load_private_key

from bot.payments.errors import CallbackRejected, PaymentProviderError, PaymentProviderUnavailable
from bot.payments.gateway import (
    Notification,
    OrderRequest,
    PayParams,
    RefundResult,
    TradeBillRow,
    Transaction,
)
from bot.wechat.paybill import parse_trade_bill, rfc3339_beijing
from bot.wechat.payconfig import PayConfig

log = logging.getLogger(__name__)
REFRESH_INTERVAL_S = 60.0
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_HEADERS = ("Signature", "Timestamp", "Nonce", "Serial", "Signature-Type")


def _unavailable() -> PaymentProviderUnavailable:
    return PaymentProviderUnavailable(headers={"Retry-After": "1"})


class WeChatPayGateway:
    """One per app; thread-safe."""

    def __init__(self, config: PayConfig) -> None:
        self.config = config
        self._sdk: WeChatPay | None = None
        self._lock = threading.Lock()
        self._refreshed_at = 0.0
        self._serials: set[str] | None = None

    @property
    def mch_id(self) -> str:
        """Our merchant number."""
        return self.config.mch_id

    @property
    def app_id(self) -> str:
        """The mini-program's app id."""
        return self.config.app_id

    # -- certificates -----------------------------------------------------------------------
    def known_serials(self) -> set[str]:
        """Upper-case hex serials of the platform certificates in ``cert_dir`` (read once,
        again after each refresh)."""
        cached = self._serials
        if cached is not None:
            return cached
        serials = set()
        for path in self.config.cert_dir.glob("*.pem"):
            try:
                certificate = x509.load_pem_x509_certificate(path.read_bytes())
            except ValueError:
                continue
            serials.add(format(certificate.serial_number, "X"))
        if serials:
            self._serials = serials
        return serials

    def refresh_certificates(self) -> None:
        """Download the platform certificates into ``cert_dir`` (``GET /v3/certificates``)."""
        path = "/v3/certificates"
        authorization = build_authorization(
            path,
            "GET",
            self.config.mch_id,
            self.config.cert_serial_no,
            load_private_key(self.config.private_key_pem),
        )
        try:
            answer = requests.get(
                self.config.api_base + path,
                headers={"Authorization": authorization, "Accept": "application/json"},
                timeout=self.config.timeout_s,
            )
        except requests.RequestException as exc:
            log.warning("wechat pay certificates unreachable: %s", type(exc).__name__)
            raise _unavailable() from exc
        if answer.status_code != 200:
            log.warning("wechat pay certificates refused: HTTP %s", answer.status_code)
            raise _unavailable()
        self.config.cert_dir.mkdir(parents=True, exist_ok=True)
        for entry in answer.json().get("data", []):
            sealed = entry.get("encrypt_certificate") or {}
            pem = aes_decrypt(
                nonce=sealed.get("nonce", ""),
                ciphertext=sealed.get("ciphertext", ""),
                associated_data=sealed.get("associated_data", ""),
                apiv3_key=self.config.apiv3_key,
            )
            if pem and str(entry.get("serial_no", "")).isalnum():
                (self.config.cert_dir / f"{entry['serial_no']}.pem").write_text(pem)
        self._refreshed_at = time.monotonic()
        self._serials = None

    def _client(self) -> WeChatPay:
        with self._lock:
            if self._sdk is None:
                if not self.known_serials():
                    self.refresh_certificates()
                sdk = WeChatPay(
                    wechatpay_type=WeChatPayType.MINIPROG,
                    mchid=self.config.mch_id,
                    private_key=self.config.private_key_pem,
                    cert_serial_no=self.config.cert_serial_no,
                    appid=self.config.app_id,
                    apiv3_key=self.config.apiv3_key,
                    notify_url=self.config.notify_url,
                    cert_dir=str(self.config.cert_dir),
                    timeout=(self.config.timeout_s, self.config.timeout_s),
                )
                sdk._core._gate_way = self.config.api_base  # see the module docstring
                self._sdk = sdk
            return self._sdk

    def _call(self, where: str, operation: Callable[[WeChatPay], tuple[int, Any]]) -> Any:
        """Run one SDK call; returns the parsed JSON (or bytes) of a 2xx, None for a 404."""
        try:
            status, body = operation(self._client())
        except requests.RequestException as exc:
            log.warning("wechat pay %s unreachable: %s", where, type(exc).__name__)
            raise _unavailable() from exc
        except Exception as exc:  # the SDK raises bare Exception on a bad answer signature
            log.warning("wechat pay %s: %s", where, type(exc).__name__)
            raise PaymentProviderError("WeChat Pay's answer did not verify.") from exc
        if 200 <= status < 300:
            if isinstance(body, str):
                return json.loads(body) if body else {}
            return body
        code = ""
        if isinstance(body, str) and body:
            try:
                code = str(json.loads(body).get("code", ""))
            except ValueError:
                code = ""
        log.info("wechat pay %s: HTTP %s %s", where, status, code)
        if status == 404:
            return None
        if status >= 500 or status == 429:
            raise _unavailable()
        raise PaymentProviderError(f"WeChat Pay refused {where}.", details={"wechat_code": code})

    # -- orders -----------------------------------------------------------------------------
    def create_order(self, request: OrderRequest) -> PayParams:
        """``POST /v3/pay/transactions/jsapi``, then the signed ``wx.requestPayment`` args."""
        answer = self._call(
            "jsapi order",
            lambda sdk: sdk.pay(
                description=request.description,
                out_trade_no=request.out_trade_no,
                amount={"total": request.amount_fen, "currency": "CNY"},
                payer={"openid": request.payer_openid},
                time_expire=rfc3339_beijing(request.expires_at),
            ),
        )
        prepay_id = (answer or {}).get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise PaymentProviderError("WeChat Pay answered the order without a prepay_id.")
        sdk = self._client()
        time_stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = sdk.sign([self.app_id, time_stamp, nonce, package], SignType.RSA_SHA256)
        return PayParams(self.app_id, time_stamp, nonce, package, "RSA", pay_sign)

    def query_order(self, out_trade_no: str) -> Transaction | None:
        """``GET /v3/pay/transactions/out-trade-no/{no}``."""
        answer = self._call("order query", lambda sdk: sdk.query(out_trade_no=out_trade_no))
        return None if answer is None else _transaction(answer)

    def refund(
        self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        """``POST /v3/refund/domestic/refunds`` (idempotent on ``out_refund_no``)."""
        answer = self._call(
            "refund",
            lambda sdk: sdk.refund(
                out_refund_no=out_refund_no,
                amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
                out_trade_no=out_trade_no,
                reason=reason or None,
            ),
        )
        if answer is None:
            raise PaymentProviderError("WeChat Pay does not know this order.")
        return _refund(answer)

    def trade_bill(self, day: Any) -> list[TradeBillRow]:
        """``GET /v3/bill/tradebill`` for ``day``, then the file (gzip or plain)."""
        answer = self._call(
            "trade bill", lambda sdk: sdk.trade_bill(bill_date=day.isoformat(), tar_type="GZIP")
        )
        url = (answer or {}).get("download_url")
        if not isinstance(url, str):
            raise PaymentProviderError("WeChat Pay has no trade bill for this day.")
        content = self._call("bill download", lambda sdk: sdk.download_bill(url))
        raw = content if isinstance(content, bytes) else str(content).encode()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return parse_trade_bill(raw.decode("utf-8-sig"))

    # -- notifications ----------------------------------------------------------------------
    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: float, window_s: int
    ) -> Notification:
        """Verify and decrypt one notification (see the module docstring), or raise."""
        wanted = {name: headers.get(f"Wechatpay-{name}", "") for name in _HEADERS}
        if not all(wanted[name] for name in _HEADERS[:4]):
            raise CallbackRejected("The Wechatpay-* headers are missing.", code="headers_missing")
        if wanted["Signature-Type"] not in ("", SIGNATURE_TYPE):
            raise CallbackRejected("Unsupported signature type.", code="bad_signature")
        stamp = wanted["Timestamp"]
        if not stamp.isdigit() or abs(int(stamp) - now) > window_s:
            raise CallbackRejected(
                "The notification is too old or from the future.", code="stale_timestamp"
            )
        serial = wanted["Serial"].upper()
        if serial not in self.known_serials():
            self._maybe_refresh()
            if serial not in self.known_serials():
                raise CallbackRejected(
                    "No platform certificate has this serial.", code="unknown_serial"
                )
        sdk_headers = {f"Wechatpay-{name}": value for name, value in wanted.items()}
        sdk_headers["Wechatpay-Signature-Type"] = SIGNATURE_TYPE
        try:
            result = self._client().callback(sdk_headers, body.decode("utf-8"))
        except Exception:  # noqa: BLE001 - the SDK raises bare Exception (an unknown algorithm)
            result = None
        if not result:
            raise CallbackRejected(
                "The signature or the encrypted resource did not verify.", code="bad_signature"
            )
        resource = result.get("resource")
        event_type = str(result.get("event_type", ""))
        if not isinstance(resource, dict):
            raise CallbackRejected("The notification carries no resource.", code="bad_signature")
        if event_type.startswith("REFUND."):
            return Notification(event_type, refund=_refund(resource))
        return Notification(event_type, transaction=_transaction(resource))

    def _maybe_refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._refreshed_at < REFRESH_INTERVAL_S and self._refreshed_at:
                return
            before = self.known_serials()
            self.refresh_certificates()
            if self.known_serials() != before:
                self._sdk = None  # rebuilt with the new certificates on next use


def _amount(value: Any, name: str) -> int:
    amount = value.get(name) if isinstance(value, dict) else None
    return amount if type(amount) is int else -1


def _transaction(resource: dict[str, Any]) -> Transaction:
    payer = resource.get("payer") if isinstance(resource.get("payer"), dict) else {}
    return Transaction(
        mch_id=str(resource.get("mchid", "")),
        app_id=str(resource.get("appid", "")),
        out_trade_no=str(resource.get("out_trade_no", "")),
        transaction_id=str(resource.get("transaction_id", "")),
        trade_state=str(resource.get("trade_state", "")),
        amount_fen=_amount(resource.get("amount"), "total"),
        payer_openid=str((payer or {}).get("openid", "")),
        success_time=str(resource.get("success_time", "")),
    )


def _refund(resource: dict[str, Any]) -> RefundResult:
    return RefundResult(
        out_refund_no=str(resource.get("out_refund_no", "")),
        refund_id=str(resource.get("refund_id", "")),
        out_trade_no=str(resource.get("out_trade_no", "")),
        status=str(resource.get("status") or resource.get("refund_status") or ""),
        refund_fen=_amount(resource.get("amount"), "refund"),
        mch_id=str(resource.get("mchid", "")),
    )
