"""Payment and refund notifications: verified by the gateway, judged here against our orders.

Invariants:
- Only a notification the gateway verified reaches this module (signature, serial, timestamp,
  decryption). Here its content must match our order: ``mchid`` and ``appid`` are ours,
  ``out_trade_no`` is an order we created, the amount and the payer are the order's. Each
  mismatch is refused with its own code and changes nothing.
- Settling runs under the bill's lock (:func:`bot.payments.orders.lock_bill`), so redeliveries,
  even concurrent ones, settle a bill once: the first marks order and bill ``paid``; the others
  find the same ``transaction_id`` and are acknowledged without a write. A second order paid for
  an already paid bill is kept as ``duplicate`` (to refund), never as a second payment; the
  partial unique index on paid orders is the last word.
- A refund notification settles our refund row and the bill's refunded amount once.
- Settling records :class:`bot.events.BillPaid` / :class:`bot.events.BillRefunded` in the same
  transaction; the WeChat adapter subscribes (the citizen's subscribe message), this module
  never calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.crypto import same
from bot.events import BillPaid, BillRefunded, record
from bot.payments.errors import CallbackRejected
from bot.payments.gateway import PaymentGateway, RefundResult, Transaction
from bot.payments.orders import lock_bill
from bot.vocab import BillStatus, OrderStatus, RefundStatus
from storage.db import Database
from storage.models.bill import Bill
from storage.models.payment_item import PaymentItem
from storage.models.payment_order import PaymentOrder
from storage.models.payment_refund import PaymentRefund

log = logging.getLogger(__name__)


def _item_name(session: Session, bill: Bill) -> str:
    return session.scalar(select(PaymentItem.name).where(PaymentItem.id == bill.item_id)) or ""


def _order_bill(session: Session, out_trade_no: str) -> str:
    bill_id = session.scalar(
        select(PaymentOrder.bill_id).where(PaymentOrder.out_trade_no == out_trade_no)
    )
    if bill_id is None:
        raise CallbackRejected("No order has this out_trade_no.", code="unknown_order", status=404)
    return bill_id


def paid_time(transaction: Transaction, now: dt.datetime) -> dt.datetime:
    """WeChat's ``success_time`` (the trade bill's day follows it), else ``now``."""
    try:
        moment = dt.datetime.fromisoformat(transaction.success_time)
    except ValueError:
        return now
    return moment.astimezone(dt.UTC) if moment.tzinfo else now


def settle_transaction(
    database: Database, gateway: PaymentGateway, transaction: Transaction, now: dt.datetime
) -> str:
    """Apply a verified transaction; returns ``paid``, ``already_paid``, ``duplicate`` or
    ``ignored`` (not a success)."""
    if not same(transaction.mch_id, gateway.mch_id) or not same(transaction.app_id, gateway.app_id):
        raise CallbackRejected(
            "The notification is for another merchant.", code="merchant_mismatch"
        )
    if transaction.trade_state != "SUCCESS":
        return "ignored"
    with database.transaction() as session:
        bill_id = _order_bill(session, transaction.out_trade_no)
        lock_bill(session, bill_id, now)
        order = session.scalars(
            select(PaymentOrder).where(PaymentOrder.out_trade_no == transaction.out_trade_no)
        ).one()
        if transaction.amount_fen != order.amount_fen:
            log.warning("payment notification amount mismatch on order %s", order.id)
            raise CallbackRejected("The amount is not the order's.", code="amount_mismatch")
        if not same(transaction.payer_openid, order.openid):
            raise CallbackRejected("The payer is not the order's.", code="payer_mismatch")
        if order.transaction_id is not None:
            if same(order.transaction_id, transaction.transaction_id):
                return "already_paid"
            raise CallbackRejected(
                "The order was paid by another transaction.", code="transaction_mismatch"
            )
        bill = session.get(Bill, bill_id)
        if bill is None:  # pragma: no cover - foreign key
            raise CallbackRejected(code="unknown_order", status=404)
        order.transaction_id, order.paid_at = (
            transaction.transaction_id,
            paid_time(transaction, now),
        )
        if bill.status != BillStatus.OPEN:
            order.status = OrderStatus.DUPLICATE.value
            log.warning("bill %s paid twice: order %s kept as duplicate", bill.id, order.id)
            return "duplicate"
        order.status = OrderStatus.PAID.value
        bill.status, bill.paid_order_id = BillStatus.PAID.value, order.id
        bill.paid_at = order.paid_at
        record(
            session,
            BillPaid(order.citizen_id, bill.id, _item_name(session, bill), order.amount_fen),
        )
        return "paid"


def settle_refund(
    database: Database, gateway: PaymentGateway, refund: RefundResult, now: dt.datetime
) -> str:
    """Apply a verified refund notification; returns ``refunded``, ``already`` or ``failed``."""
    if refund.mch_id and not same(refund.mch_id, gateway.mch_id):
        raise CallbackRejected(
            "The notification is for another merchant.", code="merchant_mismatch"
        )
    with database.transaction() as session:
        bill_id = _order_bill(session, refund.out_trade_no)
        lock_bill(session, bill_id, now)
        row = session.scalars(
            select(PaymentRefund).where(PaymentRefund.out_refund_no == refund.out_refund_no)
        ).first()
        if row is None:
            raise CallbackRejected(
                "No refund has this out_refund_no.", code="unknown_refund", status=404
            )
        if refund.refund_fen != row.amount_fen:
            raise CallbackRejected("The refund amount is not ours.", code="amount_mismatch")
        if row.status != RefundStatus.PROCESSING:
            return "already"
        row.refund_id = refund.refund_id or row.refund_id
        if refund.status != "SUCCESS":
            row.status, row.settled_at = RefundStatus.FAILED.value, now
            return "failed"
        row.status, row.settled_at = RefundStatus.SUCCESS.value, now
        bill = session.get(Bill, bill_id)
        order = session.get(PaymentOrder, row.order_id)
        if bill is not None and order is not None:
            bill.refunded_fen += row.amount_fen
            if bill.refunded_fen >= bill.amount_fen:
                bill.status = BillStatus.REFUNDED.value
            item_name = _item_name(session, bill)
            record(session, BillRefunded(order.citizen_id, bill.id, item_name, row.amount_fen))
        return "refunded"


def handle_notification(
    database: Database,
    gateway: PaymentGateway,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    window_s: int,
) -> str:
    """Verify, decrypt and apply one notification; returns what happened, raises
    :class:`CallbackRejected` (with its code) when it must not be applied."""
    notification = gateway.parse_notification(headers, body, now, window_s)
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if notification.transaction is not None:
        return settle_transaction(database, gateway, notification.transaction, moment)
    if notification.refund is not None:
        return settle_refund(database, gateway, notification.refund, moment)
    raise CallbackRejected("Unknown notification.", code="unknown_event")
