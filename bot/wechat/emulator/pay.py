"""A local stand-in for ``api.mch.weixin.qq.com`` (WeChat Pay API v3), development and tests only.

Invariants:
- Same paths, JSON shapes, error codes and signatures as WeChat Pay v3 for the calls we make:
  the JSAPI order, the query and close by ``out_trade_no``, refunds, the trade bill and its
  download, and the platform certificates. Every request must carry the merchant's valid
  ``WECHATPAY2-SHA256-RSA2048`` Authorization (401 ``SIGN_ERROR`` otherwise); every 2xx answer
  is signed with the emulator's own platform key (:mod:`bot.wechat.emulator.paysign`).
- Nothing is paid by default: an order becomes ``SUCCESS`` only through :meth:`PayEmulator.pay`,
  which plays the user confirming ``wx.requestPayment``; refunds settle through
  :meth:`PayEmulator.settle_refund`. Each then POSTs the signed, AEAD_AES_256_GCM-encrypted
  notification to the order's ``notify_url`` over real HTTP.
- Scripting for tests: :meth:`fail` (an HTTP error for the next calls to a path prefix),
  :meth:`delay` (a slow answer, to time a client out), ``duplicates`` (each notification is
  delivered that many times, optionally at once from several threads).
- Amounts are integer fen; the trade bill writes yuan with two decimals, as WeChat does.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import requests
from werkzeug.wrappers import Request, Response

from bot.wechat.emulator import payroutes
from bot.wechat.emulator.payloads import (
    EmuOrder,
    EmuRefund,
    PayError,
    beijing_time,
    transaction_resource,
)
from bot.wechat.emulator.paysign import (
    aead_seal,
    load_public_key,
    new_rsa_key,
    parse_authorization,
    rsa_verify,
    self_signed_certificate,
    serial_hex,
    signed_headers,
)

AUTH_WINDOW_S = 300


@dataclass
class Delivery:
    """One notification sent to a notify URL, and the status our server answered."""

    url: str
    event_type: str
    status: int


@dataclass
class _Step:
    prefix: str
    kind: str
    value: Any


class PayEmulator:
    """The WSGI app and its state; thread-safe."""

    def __init__(
        self,
        mch_id: str,
        app_id: str,
        apiv3_key: str,
        merchant_serial: str = "",
        merchant_public_pem: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.mch_id, self.app_id, self.apiv3_key = mch_id, app_id, apiv3_key
        self.merchant_keys: dict[str, Any] = {}
        if merchant_serial:
            self.trust_merchant(merchant_serial, merchant_public_pem)
        self.platform_key = new_rsa_key()
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        self.certificate = self_signed_certificate(self.platform_key, "Tenpay.com Root CA", now)
        self.serial = serial_hex(self.certificate)
        self.orders: dict[str, EmuOrder] = {}
        self.refunds: dict[str, EmuRefund] = {}
        self.deliveries: list[Delivery] = []
        self.duplicates = 1
        self.concurrent_duplicates = False
        # WeChat Pay waits 5 s for a notification's answer; tests on a loaded machine allow more.
        self.notify_timeout_s = 5.0
        self.calls: list[tuple[str, str]] = []
        self._bills: dict[str, str] = {}
        self._script: list[_Step] = []
        self._clock, self._offset = clock, 0.0
        self._lock = threading.Lock()

    def trust_merchant(self, serial: str, public_pem: str) -> None:
        """Hold the merchant's API certificate (public key) under its serial, as WeChat Pay
        does once the merchant uploaded it; requests are checked against it."""
        self.merchant_keys[serial] = load_public_key(public_pem)

    # -- scripting (tests) ----------------------------------------------------------------
    def now(self) -> float:
        """The emulator's time."""
        return self._clock() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's time forward."""
        self._offset += seconds

    def fail(
        self, prefix: str, status: int = 500, code: str = "SYSTEM_ERROR", times: int = 1
    ) -> None:
        """Answer the next ``times`` calls under ``prefix`` with an HTTP error."""
        with self._lock:
            self._script += [_Step(prefix, "fail", (status, code))] * times

    def delay(self, prefix: str, seconds: float, times: int = 1) -> None:
        """Make the next ``times`` calls under ``prefix`` wait ``seconds`` (a client times out)."""
        with self._lock:
            self._script += [_Step(prefix, "delay", seconds)] * times

    # -- the user and the platform's side -------------------------------------------------
    def pay(
        self, out_trade_no: str, openid: str | None = None, *, notify: bool = True
    ) -> list[int]:
        """The user confirms the payment in WeChat; returns our server's answers to the
        notification(s). Refused (KeyError/ValueError) for an unknown, expired, closed or
        already paid order, or a payer other than the order's."""
        with self._lock:
            order = self.orders[out_trade_no]
            payer = order.request.get("payer", {}).get("openid")
            if openid is not None and openid != payer:
                raise ValueError("another user cannot pay this order")
            if order.trade_state != "NOTPAY" or order.expires_at <= self.now():
                raise ValueError(f"order is {order.trade_state} or expired")
            order.trade_state = "SUCCESS"
            order.transaction_id = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
            order.success_time = self.now()
        return self.notify_transaction(out_trade_no) if notify else []

    def settle_refund(self, out_refund_no: str, *, notify: bool = True) -> list[int]:
        """The refund reaches the user; WeChat then notifies the refund's ``notify_url``."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund.status, refund.success_time = "SUCCESS", self.now()
        return self.notify_refund(out_refund_no) if notify else []

    def transaction_notification(
        self, out_trade_no: str, /, *, timestamp: int | None = None, **changes: Any
    ) -> tuple[dict[str, str], str]:
        """The headers and body of a TRANSACTION.SUCCESS notification; ``changes`` alter the
        decrypted transaction before it is sealed (tests: a tampered amount, another mchid)."""
        with self._lock:
            order = self.orders[out_trade_no]
            resource = transaction_resource(self, order)
        resource.update(changes)
        return self.notification("TRANSACTION.SUCCESS", "transaction", resource, timestamp)

    def notification(
        self, event_type: str, original_type: str, resource: dict[str, Any], timestamp: int | None
    ) -> tuple[dict[str, str], str]:
        """A signed notification with ``resource`` sealed under the APIv3 key."""
        stamp = int(self.now()) if timestamp is None else timestamp
        body = json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": beijing_time(stamp),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功" if original_type == "transaction" else "退款成功",
                "resource": {
                    "original_type": original_type,
                    **aead_seal(
                        self.apiv3_key, json.dumps(resource, ensure_ascii=False), original_type
                    ),
                },
            },
            ensure_ascii=False,
        )
        headers = signed_headers(self.platform_key, self.serial, body, stamp)
        return {**headers, "Content-Type": "application/json"}, body

    def deliver(self, url: str, headers: dict[str, str], body: str, event_type: str) -> list[int]:
        """POST a notification ``duplicates`` times (at once from threads when
        ``concurrent_duplicates``); returns each answer's HTTP status (599: no answer)."""
        statuses: list[int] = []

        def send() -> None:
            try:
                answer = requests.post(
                    url, data=body.encode(), headers=headers, timeout=self.notify_timeout_s
                )
                status = answer.status_code
            except requests.RequestException:
                status = 599
            with self._lock:
                statuses.append(status)
                self.deliveries.append(Delivery(url, event_type, status))

        if self.concurrent_duplicates and self.duplicates > 1:
            threads = [threading.Thread(target=send) for _ in range(self.duplicates)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            for _ in range(self.duplicates):
                send()
        return statuses

    def notify_transaction(self, out_trade_no: str) -> list[int]:
        """Send the order's TRANSACTION.SUCCESS notification to its ``notify_url``."""
        headers, body = self.transaction_notification(out_trade_no)
        url = str(self.orders[out_trade_no].request["notify_url"])
        return self.deliver(url, headers, body, "TRANSACTION.SUCCESS")

    def notify_refund(self, out_refund_no: str) -> list[int]:
        """Send the refund's REFUND.SUCCESS notification to its ``notify_url``."""
        with self._lock:
            refund = self.refunds[out_refund_no]
            order = self.orders[refund.out_trade_no]
            resource = {
                "mchid": self.mch_id,
                "out_trade_no": refund.out_trade_no,
                "transaction_id": order.transaction_id,
                "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id,
                "refund_status": refund.status,
                "success_time": beijing_time(refund.success_time),
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": order.request["amount"]["total"],
                    "refund": refund.refund_fen,
                    "payer_total": order.request["amount"]["total"],
                    "payer_refund": refund.refund_fen,
                },
            }
        headers, body = self.notification("REFUND.SUCCESS", "refund", resource, None)
        return self.deliver(refund.notify_url, headers, body, "REFUND.SUCCESS")

    # -- WSGI -----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Serve one request."""
        request = Request(environ)
        try:
            status, body, content_type = self._dispatch(request)
        except PayError as exc:
            answer = Response(
                json.dumps({"code": exc.code, "message": exc.message}, ensure_ascii=False),
                status=exc.status,
                mimetype="application/json",
            )
            return answer(environ, start_response)
        answer = Response(body, status=status, content_type=content_type)
        if status < 300 and content_type.startswith("application/json"):
            for name, value in signed_headers(
                self.platform_key, self.serial, body, int(self.now())
            ).items():
                answer.headers[name] = value
        return answer(environ, start_response)

    def _script_step(self, path: str) -> _Step | None:
        with self._lock:
            for index, step in enumerate(self._script):
                if path.startswith(step.prefix):
                    return self._script.pop(index)
        return None

    def _authenticate(self, request: Request, path_and_query: str, body: str) -> None:
        fields = parse_authorization(request.headers.get("Authorization", ""))
        if fields is None:
            raise PayError(401, "SIGN_ERROR", "Authorization 缺失或格式错误")
        public_key = self.merchant_keys.get(fields["serial_no"])
        if fields["mchid"] != self.mch_id or public_key is None:
            raise PayError(401, "SIGN_ERROR", "商户号或证书序列号错误")
        if (
            not fields["timestamp"].isdigit()
            or abs(int(fields["timestamp"]) - self.now()) > AUTH_WINDOW_S
        ):
            raise PayError(401, "SIGN_ERROR", "时间戳超出允许范围")
        message = (
            f"{request.method}\n{path_and_query}\n{fields['timestamp']}\n"
            f"{fields['nonce_str']}\n{body}\n"
        )
        if not rsa_verify(public_key, message, fields["signature"]):
            raise PayError(401, "SIGN_ERROR", "签名错误")

    def _dispatch(self, request: Request) -> tuple[int, str, str]:
        path = request.path
        query = request.query_string.decode()
        body = request.get_data(as_text=True)
        with self._lock:
            self.calls.append((request.method, path))
        step = self._script_step(path)
        if step is not None and step.kind == "delay":
            time.sleep(float(step.value))
        elif step is not None:
            raise PayError(step.value[0], step.value[1], "脚本化的失败")
        self._authenticate(request, path + (f"?{query}" if query else ""), body)
        params = {name: values[0] for name, values in parse_qs(query).items()}
        return payroutes.route(self, request, path, params, body)
