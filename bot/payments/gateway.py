"""The payment provider as the payments domain sees it: a :class:`PaymentGateway` protocol.

The app factory hands the domain an implementation (WeChat Pay v3, ``bot.wechat.pay``); this
package never imports it. Implementations raise :class:`PaymentProviderUnavailable` (no answer,
a timeout: worth retrying), :class:`PaymentProviderError` (a refusal) and
:class:`CallbackRejected` (a notification that failed a check), and nothing else.

Invariants every implementation keeps:
- Amounts are integer fen in and out.
- :meth:`PaymentGateway.parse_notification` returns only what it verified: the signature over
  ``timestamp\\nnonce\\nbody\\n`` with the provider certificate named by the serial, a timestamp
  within ``window_s`` of ``now``, and a resource that decrypted under the APIv3 key. It does not
  judge the content against our orders; the domain does (:mod:`bot.payments.callbacks`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from bot.payments.errors import PaymentsDisabled


@dataclass(frozen=True)
class OrderRequest:
    """A JSAPI order to create for the mini-program user ``payer_openid``."""

    out_trade_no: str
    description: str
    amount_fen: int
    payer_openid: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class PayParams:
    """The arguments of ``wx.requestPayment``, signed with the merchant key."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


@dataclass(frozen=True)
class Transaction:
    """A transaction as the provider reports it (a verified notification or a query)."""

    mch_id: str
    app_id: str
    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount_fen: int
    payer_openid: str
    success_time: str


@dataclass(frozen=True)
class RefundResult:
    """A refund as the provider reports it; ``status`` is SUCCESS, PROCESSING, CLOSED or
    ABNORMAL (WeChat's words)."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    status: str
    refund_fen: int
    mch_id: str = ""


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification: a transaction or a refund."""

    event_type: str
    transaction: Transaction | None = None
    refund: RefundResult | None = None


@dataclass(frozen=True)
class TradeBillRow:
    """One line of the provider's trade bill: a payment (``SUCCESS``) or a refund
    (``REFUND``), amounts in fen."""

    out_trade_no: str
    transaction_id: str
    trade_state: str
    amount_fen: int
    out_refund_no: str = ""
    refund_fen: int = 0


class PaymentGateway(Protocol):
    """WeChat Pay (or an equivalent provider) as the domain needs it."""

    @property
    def mch_id(self) -> str:
        """Our merchant number; a notification for another is refused."""
        ...

    @property
    def app_id(self) -> str:
        """The app id orders are paid from; a notification for another is refused."""
        ...

    def create_order(self, request: OrderRequest) -> PayParams:
        """Create (or find again, for the same request) the order; return the signed
        ``wx.requestPayment`` parameters."""
        ...

    def query_order(self, out_trade_no: str) -> Transaction | None:
        """The order's state at the provider, or None when the provider does not know it."""
        ...

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: float, window_s: int
    ) -> Notification:
        """Verify and decrypt a notification, or raise :class:`CallbackRejected`."""
        ...

    def refund(
        self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        """Ask for a refund; idempotent on ``out_refund_no``."""
        ...

    def trade_bill(self, day: dt.date) -> list[TradeBillRow]:
        """Download and parse the provider's trade bill of ``day``."""
        ...


_PAYMENT_GATEWAY = "wangzheng.payment_gateway"


def set_payment_gateway(app: Flask, gateway: PaymentGateway) -> None:
    """Install the app's payment provider (``WANGZHENG_PAYMENTS_ENABLED``; the app factory
    passes the WeChat Pay one, so this package never imports the adapter)."""
    app.extensions[_PAYMENT_GATEWAY] = gateway


def payment_gateway(app: Flask | None = None) -> PaymentGateway:
    """The payment provider; :class:`PaymentsDisabled` when payments are not enabled."""
    gateway = (app or current_app).extensions.get(_PAYMENT_GATEWAY)
    if gateway is None:
        raise PaymentsDisabled()
    return gateway  # type: ignore[no-any-return]
