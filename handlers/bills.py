"""``/api/v1/me/bills``: the signed-in citizen's bills, paying them, and their receipts.

Invariant: bills are found through the registry subject of the citizen's active credential,
never through anything the client sends; someone else's bill id answers 404 like no bill.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import Response

from bot.extensions import clock, database, settings
from bot.payments.bills import list_citizen_bills
from bot.payments.gateway import payment_gateway
from bot.payments.orders import start_payment
from bot.payments.receipts import build_receipt
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import CITIZEN_ERRORS, BillOut, Out, Timestamp, bill_out

bills = APIBlueprint("bills", __name__, tag="Payments", url_prefix="/api/v1/me")
NO_CREDENTIAL = {404: "no_credential: no active credential"}


class BillsOut(Out):
    """The citizen's bills, newest first (at most 200)."""

    bills: list[BillOut]


@bills.get("/bills")
@bills.auth_required(citizen_auth)
@bills.output(BillsOut)
@bills.doc(summary="My bills", responses={**CITIZEN_ERRORS, **NO_CREDENTIAL})
def my_bills() -> dict[str, Any]:
    """Every bill agencies addressed to the holder of my active credential."""
    principal = current_citizen()
    with database().transaction() as session:
        views = list_citizen_bills(session, settings(), principal.openid)
    return {"bills": [bill_out(view) for view in views]}


class RequestPaymentOut(Out):
    """The arguments of ``wx.requestPayment``, as the mini-program passes them."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: Literal["RSA"]
    paySign: str


class PayOut(Out):
    """The order started for the bill and the signed payment sheet parameters."""

    out_trade_no: str
    amount_fen: int
    expires_at: Timestamp
    payment: RequestPaymentOut


PAY_ERRORS = {
    **CITIZEN_ERRORS,
    403: "credential_level_too_low: this item needs an upgraded credential",
    404: "bill_not_found, no_credential or payments_disabled",
    409: "bill_already_paid, or payment_in_progress (Retry-After)",
    502: "payment_provider_error: WeChat Pay refused the order",
    503: "payment_provider_unavailable (Retry-After)",
}


@bills.post("/bills/<string:bill_id>/pay")
@bills.auth_required(citizen_auth)
@bills.output(PayOut)
@bills.doc(summary="Pay a bill with WeChat Pay", responses=PAY_ERRORS)
def pay_bill(bill_id: str) -> dict[str, Any]:
    """Create (or resume) the WeChat Pay order of my bill; the mini-program then calls
    ``wx.requestPayment`` with ``payment``."""
    principal = current_citizen()
    gateway = payment_gateway()
    started = start_payment(
        database(),
        settings(),
        gateway,
        openid=principal.openid,
        citizen_id=principal.citizen_id,
        bill_id=bill_id[:64],
        now=dt.datetime.fromtimestamp(clock()(), dt.UTC),
    )
    params = started.params
    return {
        "out_trade_no": started.out_trade_no,
        "amount_fen": started.amount_fen,
        "expires_at": started.expires_at.isoformat(),
        "payment": {
            "appId": params.app_id,
            "timeStamp": params.time_stamp,
            "nonceStr": params.nonce_str,
            "package": params.package,
            "signType": params.sign_type,
            "paySign": params.pay_sign,
        },
    }


PDF: dict[int | str, Any] = {
    200: {
        "description": "The receipt PDF; its QR holds a signed receipt token (docs/verifying.md)",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    },
    401: CITIZEN_ERRORS[401],
    404: "bill_not_found or no_credential",
    409: "receipt_unavailable: the bill is not paid",
}


@bills.get("/bills/<string:bill_id>/receipt")
@bills.auth_required(citizen_auth)
@bills.doc(summary="The receipt of my paid bill (PDF)", responses=PDF)
def bill_receipt(bill_id: str) -> Response:
    """The PDF receipt of a paid bill: item, agency, amount, time, WeChat transaction id and a
    QR code a verifier checks against our public keys."""
    principal = current_citizen()
    with database().transaction() as session:
        receipt = build_receipt(session, settings(), principal.openid, bill_id[:64])
    response = Response(receipt.pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="receipt-{bill_id[:64]}.pdf"'
    return response
