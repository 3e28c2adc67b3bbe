"""Refunds of paid orders, asked of the payment provider and settled by its notification.

Invariants:
- Under the bill's lock, the refunds of an order (processing or succeeded) never add up to more
  than its amount; a refund that would is :class:`RefundInvalid` and writes nothing.
- ``out_refund_no`` makes a refund idempotent: the same number with the same amount returns the
  existing refund (and asks the provider again, which is idempotent too); with another amount
  it is refused. Agencies pass their own reference, the CLI generates one.
- The provider is called outside any transaction. No answer (a timeout) leaves the refund
  ``processing``: asking again with the same number is safe. A refusal marks it ``failed`` so
  its amount is available again. Success comes from the provider's answer or notification,
  through :func:`bot.payments.callbacks.settle_refund`, applied once.
- An agency refunds only bills it issued.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.payments.callbacks import settle_refund
from bot.payments.errors import (
    BillNotFound,
    OrderNotFound,
    PaymentProviderError,
    RefundInvalid,
)
from bot.payments.gateway import PaymentGateway
from bot.payments.orders import lock_bill
from bot.vocab import OrderStatus, RefundStatus
from storage.db import Database
from storage.models.bill import Bill
from storage.models.payment_order import PaymentOrder
from storage.models.payment_refund import PaymentRefund

REFUNDABLE = (OrderStatus.PAID.value, OrderStatus.DUPLICATE.value)


@dataclass(frozen=True)
class RefundView:
    """A refund as its requester sees it."""

    out_refund_no: str
    out_trade_no: str
    amount_fen: int
    status: RefundStatus


def order_of_bill(database: Database, bill_id: str, agency_id: int) -> str:
    """The paid order of the agency's bill ``bill_id``; :class:`BillNotFound` otherwise."""
    with database.transaction() as session:
        bill = session.get(Bill, bill_id)
        if bill is None or bill.agency_id != agency_id:
            raise BillNotFound()
        if bill.paid_order_id is None:
            raise RefundInvalid("The bill is not paid.")
        order = session.get(PaymentOrder, bill.paid_order_id)
        if order is None:  # pragma: no cover - foreign key
            raise BillNotFound()
        return order.out_trade_no


def _reserve(
    database: Database,
    out_trade_no: str,
    out_refund_no: str,
    amount_fen: int,
    reason: str,
    now: dt.datetime,
) -> tuple[PaymentRefund, PaymentOrder]:
    with database.transaction() as session:
        bill_id = session.scalar(
            select(PaymentOrder.bill_id).where(PaymentOrder.out_trade_no == out_trade_no)
        )
        if bill_id is None:
            raise OrderNotFound()
        lock_bill(session, bill_id, now)
        order = session.scalars(
            select(PaymentOrder).where(PaymentOrder.out_trade_no == out_trade_no)
        ).one()
        if order.status not in REFUNDABLE:
            raise RefundInvalid("The order is not paid.")
        existing = session.scalars(
            select(PaymentRefund).where(PaymentRefund.out_refund_no == out_refund_no)
        ).first()
        if existing is not None:
            if existing.order_id != order.id or existing.amount_fen != amount_fen:
                raise RefundInvalid("This refund reference was used for another refund.")
            return existing, order
        refunded = session.scalar(
            select(func.coalesce(func.sum(PaymentRefund.amount_fen), 0)).where(
                PaymentRefund.order_id == order.id,
                PaymentRefund.status != RefundStatus.FAILED,
            )
        )
        if not 0 < amount_fen <= order.amount_fen - int(refunded or 0):
            raise RefundInvalid(
                f"At most {order.amount_fen - int(refunded or 0)} fen can still be refunded."
            )
        refund = PaymentRefund(
            out_refund_no=out_refund_no,
            order_id=order.id,
            amount_fen=amount_fen,
            reason=reason[:80],
            status=RefundStatus.PROCESSING.value,
            created_at=now,
        )
        session.add(refund)
        session.flush()
        return refund, order


def request_refund(
    database: Database,
    gateway: PaymentGateway,
    *,
    out_trade_no: str,
    amount_fen: int,
    reason: str = "",
    out_refund_no: str | None = None,
    now: dt.datetime,
) -> RefundView:
    """Refund ``amount_fen`` of a paid order (see the module invariants)."""
    number = out_refund_no or "RF" + secrets.token_hex(15)
    refund, order = _reserve(database, out_trade_no, number, amount_fen, reason, now)
    if refund.status != RefundStatus.PROCESSING:
        return RefundView(number, out_trade_no, amount_fen, RefundStatus(refund.status))
    try:
        result = gateway.refund(out_trade_no, number, amount_fen, order.amount_fen, reason)
    except PaymentProviderError:
        with database.transaction() as session:
            row = session.scalars(
                select(PaymentRefund).where(PaymentRefund.out_refund_no == number)
            ).one()
            if row.status == RefundStatus.PROCESSING:
                row.status, row.settled_at = RefundStatus.FAILED.value, now
        raise
    status = RefundStatus.PROCESSING
    if result.status == "SUCCESS":
        settle_refund(database, gateway, result, now)
        status = RefundStatus.SUCCESS
    else:
        with database.transaction() as session:
            row = session.scalars(
                select(PaymentRefund).where(PaymentRefund.out_refund_no == number)
            ).one()
            row.refund_id = result.refund_id or row.refund_id
    return RefundView(number, out_trade_no, amount_fen, status)
