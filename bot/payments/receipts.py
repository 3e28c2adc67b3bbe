"""Receipts of paid bills: a PDF (reportlab) with a QR code a verifier checks offline.

Invariants:
- Only a bill with a paid order has a receipt (:class:`ReceiptUnavailable` otherwise), and only
  its payer gets it (the bill is found through the citizen's credential).
- The QR holds an ES256 JWT signed with the service's current signing key (``kid`` in the
  header; the public keys are at ``/.well-known/jwks.json``, ``docs/verifying.md``). Its claims
  say what the receipt says (bill, item code, amount in fen, payment time as ``iat``, WeChat
  transaction id, our order number) with ``typ`` = ``payment_receipt``; nothing personal, no
  name and no ID number. It lacks the claims of a presentation token, so it never passes for one.
- :func:`verify_receipt_token` is what a verifier runs: signature, issuer and ``typ``.
- Chinese text uses reportlab's built-in Adobe CID font STSong-Light (nothing is downloaded).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import jwt
import segno
from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.keys import ALGORITHM, current_signing_key
from bot.payments.bills import bill_view, citizen_bill
from bot.payments.errors import ReceiptUnavailable
from storage.models.payment_order import PaymentOrder

FONT = "STSong-Light"
RECEIPT_TYPE = "payment_receipt"
BEIJING = dt.timezone(dt.timedelta(hours=8))
QR_SIZE = 55 * mm
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


@dataclass(frozen=True)
class Receipt:
    """A paid bill's receipt: the PDF and the signed token its QR holds."""

    pdf: bytes
    token: str
    claims: dict[str, Any]


def yuan_text(fen: int) -> str:
    """``120050`` -> ``¥1,200.50``."""
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def verify_receipt_token(token: str, public_keys: dict[str, Any], issuer: str) -> dict[str, Any]:
    """The claims of a genuine receipt token; raises :class:`jwt.InvalidTokenError` otherwise.
    ``public_keys`` maps ``kid`` to an EC public key (from the JWKS)."""
    kid = jwt.get_unverified_header(token).get("kid")
    key = public_keys.get(str(kid))
    if key is None:
        raise jwt.InvalidTokenError("unknown kid")
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=issuer,
        options={"require": ["iss", "iat", "typ", "bill", "amt", "txn"]},
    )
    if claims.get("typ") != RECEIPT_TYPE:
        raise jwt.InvalidTokenError("not a receipt")
    return claims


def _draw_qr(page: canvas.Canvas, token: str, *, left: float, bottom: float) -> None:
    """The token as a QR code (level M, never micro): one filled square per dark module."""
    matrix = segno.make(token, error="m", micro=False, boost_error=False).matrix
    module = QR_SIZE / len(matrix)
    page.setFillColorRGB(0, 0, 0)
    for row_index, row in enumerate(matrix):
        y = bottom + QR_SIZE - (row_index + 1) * module
        for column_index, dark in enumerate(row):
            if dark:
                page.rect(left + column_index * module, y, module, module, stroke=0, fill=1)


def _draw(claims: dict[str, Any], view: Any, token: str, paid_at: dt.datetime) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A5, invariant=1)
    width, height = A5
    page.setTitle(f"Receipt {view.id}")
    page.setFont(FONT, 16)
    page.drawString(15 * mm, height - 20 * mm, "非税缴费电子回执  Payment receipt")
    page.setFont(FONT, 10)
    rows = [
        ("缴费项目 Item", f"{view.item_name} ({view.item_code})"),
        ("收款单位 Agency", f"{view.agency} · {view.city}"),
        ("金额 Amount", f"{yuan_text(view.amount_fen)}  ({view.amount_fen} fen)"),
        ("缴费时间 Paid", paid_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S 北京时间")),
        ("微信支付单号 WeChat Pay", claims["txn"]),
        ("账单编号 Bill", view.id),
        ("缴费人 Payer", view.payer_name_masked),
    ]
    if view.refunded_fen:
        rows.append(("已退款 Refunded", yuan_text(view.refunded_fen)))
    y = height - 35 * mm
    for label, value in rows:
        page.drawString(15 * mm, y, label)
        page.drawString(55 * mm, y, str(value))
        y -= 7 * mm
    _draw_qr(page, token, left=(width - QR_SIZE) / 2, bottom=25 * mm)
    page.setFont(FONT, 8)
    page.drawCentredString(
        width / 2,
        18 * mm,
        "扫码核验：ES256 签名，公钥见 /.well-known/jwks.json（docs/verifying.md）",
    )
    page.showPage()
    page.save()
    return buffer.getvalue()


def build_receipt(session: Session, settings: Settings, openid: str, bill_id: str) -> Receipt:
    """The receipt of the citizen's paid bill ``bill_id``."""
    bill, item, _credential = citizen_bill(session, settings, openid, bill_id)
    order = session.get(PaymentOrder, bill.paid_order_id) if bill.paid_order_id else None
    if order is None or order.paid_at is None or order.transaction_id is None:
        raise ReceiptUnavailable()
    view = bill_view(settings, bill, item)
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "typ": RECEIPT_TYPE,
        "iat": int(order.paid_at.timestamp()),
        "bill": bill.id,
        "item": item.code,
        "amt": bill.amount_fen,
        "txn": order.transaction_id,
        "otn": order.out_trade_no,
    }
    key = current_signing_key(session, settings)
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return Receipt(_draw(claims, view, token, order.paid_at), token, claims)
