"""Daily reconciliation: the provider's trade bill of a day against our orders and refunds.

Invariants:
- The day is WeChat Pay's: a Beijing calendar day. Our side is every order whose payment time
  (WeChat's ``success_time``) and every refund whose settlement falls on that day.
- Every difference is reported, none is repaired here: a payment or refund missing on either
  side, an amount that differs, a transaction id that differs, and an order we hold as a
  ``duplicate`` payment of an already paid bill (to refund).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from bot.payments.gateway import PaymentGateway, TradeBillRow
from bot.vocab import OrderStatus, RefundStatus
from storage.db import Database
from storage.models.payment_order import PaymentOrder
from storage.models.payment_refund import PaymentRefund

BEIJING = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Difference:
    """One difference: its kind, the order (and refund) number, and both amounts in fen."""

    kind: str  # missing_ours | missing_theirs | amount_mismatch | transaction_mismatch | duplicate
    out_trade_no: str
    out_refund_no: str = ""
    ours_fen: int | None = None
    theirs_fen: int | None = None

    def line(self) -> str:
        """One line for the report."""
        refund = f" refund={self.out_refund_no}" if self.out_refund_no else ""
        return (
            f"{self.kind} order={self.out_trade_no}{refund} "
            f"ours={self.ours_fen if self.ours_fen is not None else '-'} "
            f"theirs={self.theirs_fen if self.theirs_fen is not None else '-'}"
        )


@dataclass(frozen=True)
class Reconciliation:
    """The day's counts and differences."""

    day: dt.date
    payments: int
    refunds: int
    differences: list[Difference]


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), BEIJING)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def reconcile_day(database: Database, gateway: PaymentGateway, day: dt.date) -> Reconciliation:
    """Compare ``day``'s trade bill with our records."""
    rows = gateway.trade_bill(day)
    start, end = _bounds(day)
    paid = (OrderStatus.PAID.value, OrderStatus.DUPLICATE.value)
    with database.transaction() as session:
        orders = list(
            session.scalars(
                select(PaymentOrder).where(
                    PaymentOrder.status.in_(paid),
                    PaymentOrder.paid_at >= start,
                    PaymentOrder.paid_at < end,
                )
            )
        )
        refunds = list(
            session.execute(
                select(PaymentRefund, PaymentOrder.out_trade_no)
                .join(PaymentOrder, PaymentOrder.id == PaymentRefund.order_id)
                .where(
                    PaymentRefund.status == RefundStatus.SUCCESS,
                    PaymentRefund.settled_at >= start,
                    PaymentRefund.settled_at < end,
                )
            )
        )
    differences: list[Difference] = []
    theirs_paid: dict[str, TradeBillRow] = {
        r.out_trade_no: r for r in rows if r.trade_state != "REFUND"
    }
    theirs_refunds = {r.out_refund_no: r for r in rows if r.trade_state == "REFUND"}
    for order in orders:
        row = theirs_paid.pop(order.out_trade_no, None)
        if order.status == OrderStatus.DUPLICATE:
            differences.append(
                Difference("duplicate", order.out_trade_no, ours_fen=order.amount_fen)
            )
        if row is None:
            differences.append(
                Difference("missing_theirs", order.out_trade_no, ours_fen=order.amount_fen)
            )
        elif row.amount_fen != order.amount_fen:
            differences.append(
                Difference(
                    "amount_mismatch", order.out_trade_no, "", order.amount_fen, row.amount_fen
                )
            )
        elif row.transaction_id != order.transaction_id:
            differences.append(Difference("transaction_mismatch", order.out_trade_no))
    for row in theirs_paid.values():
        differences.append(Difference("missing_ours", row.out_trade_no, theirs_fen=row.amount_fen))
    for refund, out_trade_no in refunds:
        theirs = theirs_refunds.pop(refund.out_refund_no, None)
        if theirs is None:
            differences.append(
                Difference("missing_theirs", out_trade_no, refund.out_refund_no, refund.amount_fen)
            )
        elif theirs.refund_fen != refund.amount_fen:
            differences.append(
                Difference(
                    "amount_mismatch",
                    out_trade_no,
                    refund.out_refund_no,
                    refund.amount_fen,
                    theirs.refund_fen,
                )
            )
    for row in theirs_refunds.values():
        differences.append(
            Difference(
                "missing_ours", row.out_trade_no, row.out_refund_no, theirs_fen=row.refund_fen
            )
        )
    return Reconciliation(day, len(orders), len(refunds), differences)
