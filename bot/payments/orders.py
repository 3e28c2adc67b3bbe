"""Starting a payment: a WeChat Pay JSAPI order for one bill, and the ``wx.requestPayment``
parameters.

Invariants:
- Every step that decides runs under the bill's lock: the transaction's first statement writes
  the bill row (a row lock on PostgreSQL, the write lock on SQLite), so the pay starts and the
  callbacks of one bill are serialised.
- At most one live order per bill (partial unique index): a second pay while the first is being
  created answers :class:`PaymentInProgress`; a pay while an order is live and unexpired asks
  WeChat Pay for the same order again (same ``out_trade_no`` and request: the same prepay id),
  so a citizen who closed the payment sheet can reopen it. An order stuck in ``creating`` for
  :data:`STUCK_AFTER_S` (its process died) is closed and a new one may start.
- A paid bill, or a bill paid through another order, answers :class:`BillAlreadyPaid`.
- The call to WeChat Pay runs outside any transaction; if it fails, the order is closed so the
  citizen can retry after ``Retry-After``.
- The bill is found through the citizen's credential (:func:`bot.payments.bills.citizen_bill`),
  and an item that needs an upgraded credential refuses a light one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.payments.bills import citizen_bill
from bot.payments.errors import BillAlreadyPaid, LevelTooLow, PaymentInProgress
from bot.payments.gateway import OrderRequest, PaymentGateway, PayParams
from bot.vocab import BillStatus, Level, OrderStatus
from storage.db import Database
from storage.models.bill import Bill
from storage.models.payment_order import PaymentOrder

STUCK_AFTER_S = 30
LIVE = (OrderStatus.CREATING.value, OrderStatus.CREATED.value)


@dataclass(frozen=True)
class PaymentStart:
    """The order started (or resumed) and the parameters for ``wx.requestPayment``."""

    out_trade_no: str
    amount_fen: int
    expires_at: dt.datetime
    params: PayParams


def lock_bill(session: Session, bill_id: str, now: dt.datetime) -> None:
    """Write the bill row first, so the rest of the transaction holds its lock."""
    session.execute(update(Bill).where(Bill.id == bill_id).values(pay_lock_at=now))


def _claim(
    database: Database,
    settings: Settings,
    openid: str,
    citizen_id: int,
    bill_id: str,
    now: dt.datetime,
) -> tuple[OrderRequest, bool]:
    """Under the bill's lock: the order request to send, and whether it is a new order."""
    with database.transaction() as session:
        lock_bill(session, bill_id, now)
        bill, item, credential = citizen_bill(session, settings, openid, bill_id)
        if bill.status != BillStatus.OPEN:
            raise BillAlreadyPaid()
        if item.level_required == Level.UPGRADED and credential.level != Level.UPGRADED:
            raise LevelTooLow()
        live = session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.bill_id == bill.id, PaymentOrder.status.in_(LIVE)
            )
        ).first()
        if live is not None:
            stuck = (now - live.created_at).total_seconds() > STUCK_AFTER_S
            if live.status == OrderStatus.CREATING and not stuck:
                raise PaymentInProgress(headers={"Retry-After": "1"})
            if (
                live.status == OrderStatus.CREATED
                and live.expires_at > now
                and live.openid == openid
            ):
                request = OrderRequest(
                    live.out_trade_no, item.name, live.amount_fen, openid, live.expires_at
                )
                return request, False
            live.status = OrderStatus.CLOSED.value  # expired, stuck, or another account's
            session.flush()
        order = PaymentOrder(
            out_trade_no="WZ" + secrets.token_hex(15),
            bill_id=bill.id,
            citizen_id=citizen_id,
            openid=openid,
            amount_fen=bill.amount_fen,
            status=OrderStatus.CREATING.value,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=settings.payments_order_ttl_s),
        )
        try:
            with session.begin_nested():
                session.add(order)
        except IntegrityError:
            raise PaymentInProgress(headers={"Retry-After": "1"}) from None
        request = OrderRequest(
            order.out_trade_no, item.name, order.amount_fen, openid, order.expires_at
        )
        return request, True


def start_payment(
    database: Database,
    settings: Settings,
    gateway: PaymentGateway,
    *,
    openid: str,
    citizen_id: int,
    bill_id: str,
    now: dt.datetime,
) -> PaymentStart:
    """Start (or resume) the payment of ``bill_id`` by the citizen ``openid``."""
    request, created = _claim(database, settings, openid, citizen_id, bill_id, now)
    try:
        params = gateway.create_order(request)
    except Exception:
        if created:
            with database.transaction() as session:
                session.execute(
                    update(PaymentOrder)
                    .where(
                        PaymentOrder.out_trade_no == request.out_trade_no,
                        PaymentOrder.status == OrderStatus.CREATING,
                    )
                    .values(status=OrderStatus.CLOSED.value)
                )
        raise
    if created:
        with database.transaction() as session:
            session.execute(
                update(PaymentOrder)
                .where(
                    PaymentOrder.out_trade_no == request.out_trade_no,
                    PaymentOrder.status == OrderStatus.CREATING,
                )
                .values(status=OrderStatus.CREATED.value, prepay_id=params.package[10:])
            )
    return PaymentStart(request.out_trade_no, request.amount_fen, request.expires_at, params)
