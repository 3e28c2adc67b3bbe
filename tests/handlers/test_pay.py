"""Paying a bill: the JSAPI order, the signed payment sheet, the emulator's real notification,
and the promises around it (one payment per bill, level, someone else's bill, outages)."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from bot.payments.gateway import payment_gateway
from bot.wechat.emulator.pay import PayEmulator
from storage.db import Database
from storage.models.bill import Bill
from storage.models.outbox import OutboxMessage
from storage.models.payment_order import PaymentOrder
from tests.payments_support import (
    CHILD_ID,
    POLICE,
    add_agency,
    issue_bill_to,
    load_demo_catalogue,
)
from tests.registry_factories import ADULT_ID, add_record, issue

OPENID = "o-payer"


def _citizen(app: Any, login: Any, level: str = "light") -> dict[str, str]:
    issue(app, add_record(app), openid=OPENID, level=level)
    return {"Authorization": f"Bearer {login(openid=OPENID).access_token}"}


def _bill(app: Any, ref: str = "T-1") -> str:
    load_demo_catalogue(app)
    return issue_bill_to(app, add_agency(app), ADULT_ID, ref)


def _orders(db: Database) -> list[PaymentOrder]:
    with db.transaction() as session:
        return list(session.scalars(select(PaymentOrder).order_by(PaymentOrder.id)))


def _bill_row(db: Database, bill_id: str) -> Bill:
    with db.transaction() as session:
        bill = session.get(Bill, bill_id)
        assert bill is not None
        return bill


def test_pay_then_the_emulators_notification_settles_the_bill_once(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    client = pay_app.test_client()
    headers = _citizen(pay_app, login)
    bill_id = _bill(pay_app)
    answer = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert answer.status_code == 200, answer.json
    payment = answer.json["payment"]
    assert payment["package"].startswith("prepay_id=wx") and payment["signType"] == "RSA"
    # paySign is the merchant's RSA signature over appId, timeStamp, nonceStr, package.
    config = payment_gateway(pay_app).config  # type: ignore[attr-defined]
    public = serialization.load_pem_public_key(config.public_key_pem().encode())
    message = "".join(
        f"{payment[name]}\n" for name in ("appId", "timeStamp", "nonceStr", "package")
    )
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        base64.b64decode(payment["paySign"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    out_trade_no = answer.json["out_trade_no"]
    assert answer.json["amount_fen"] == 120_000
    assert _bill_row(db, bill_id).status == "open"  # nothing is paid before WeChat says so

    pay_emulator.duplicates = 3  # WeChat redelivers; each must be acknowledged, none re-applied
    assert pay_emulator.pay(out_trade_no, OPENID) == [200, 200, 200]
    bill = _bill_row(db, bill_id)
    [order] = _orders(db)
    assert (bill.status, bill.paid_order_id, order.status) == ("paid", order.id, "paid")
    assert order.transaction_id == pay_emulator.orders[out_trade_no].transaction_id

    with db.transaction() as session:
        messages = [
            json.loads(row.payload)
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "subscribe_message")
            )
        ]
    paid_messages = [m for m in messages if m["kind"] == "bill_paid"]
    assert len(paid_messages) == 1  # one BillPaid event despite three deliveries
    assert paid_messages[0]["data"]["amount3"] == "¥1200.00"

    listed = client.get("/api/v1/me/bills", headers=headers).json["bills"]
    assert [(b["id"], b["status"]) for b in listed] == [(bill_id, "paid")]
    again = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert (again.status_code, again.json["error"]["code"]) == (409, "bill_already_paid")


def test_paying_again_before_paying_resumes_the_same_order(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    client = pay_app.test_client()
    headers = _citizen(pay_app, login)
    bill_id = _bill(pay_app)
    first = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers).json
    second = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers).json
    assert first["out_trade_no"] == second["out_trade_no"]
    assert first["payment"]["package"] == second["payment"]["package"]
    assert len(_orders(db)) == 1


def test_fifty_concurrent_pays_and_concurrent_redeliveries_make_one_payment(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    headers = _citizen(pay_app, login)
    bill_id = _bill(pay_app)
    answers: list[tuple[int, str]] = []
    barrier = threading.Barrier(50)

    def pay() -> None:
        client = pay_app.test_client()
        barrier.wait()
        answer = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
        body = answer.json
        answers.append((answer.status_code, body.get("out_trade_no") or body["error"]["code"]))

    threads = [threading.Thread(target=pay) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} <= {200, 409}, answers
    trade_numbers = {value for status, value in answers if status == 200}
    assert len(trade_numbers) == 1, answers  # every success names the one order
    assert {value for status, value in answers if status == 409} <= {"payment_in_progress"}
    assert [order.status for order in _orders(db)] == ["created"]

    pay_emulator.duplicates, pay_emulator.concurrent_duplicates = 10, True
    assert pay_emulator.pay(trade_numbers.pop(), OPENID) == [200] * 10
    orders = _orders(db)
    assert [order.status for order in orders] == ["paid"]
    assert _bill_row(db, bill_id).status == "paid"


def test_an_item_that_needs_an_upgraded_credential_refuses_a_light_one(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    load_demo_catalogue(pay_app)
    police = add_agency(pay_app, POLICE)
    bill_id = issue_bill_to(
        pay_app, police, ADULT_ID, "ID-1", item_code="GZ-ID-REISSUE", amount_fen=4000
    )
    headers = _citizen(pay_app, login, level="light")
    answer = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert (answer.status_code, answer.json["error"]["code"]) == (403, "credential_level_too_low")
    assert _orders(db) == []
    assert pay_emulator.orders == {}


def test_someone_elses_bill_is_not_found(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    load_demo_catalogue(pay_app)
    theirs = issue_bill_to(pay_app, add_agency(pay_app), CHILD_ID, "C-1")
    headers = _citizen(pay_app, login)
    for bill_id in (theirs, "bl_does-not-exist"):
        answer = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
        assert (answer.status_code, answer.json["error"]["code"]) == (404, "bill_not_found")
    assert _orders(db) == []


def test_a_wechat_pay_outage_is_a_503_and_the_citizen_can_retry(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    client = pay_app.test_client()
    headers = _citizen(pay_app, login)
    bill_id = _bill(pay_app)
    client.get("/api/v1/me/bills", headers=headers)
    pay_emulator.fail("/v3/pay/transactions/jsapi", 500, "SYSTEM_ERROR")
    failed = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
    assert failed.json["error"]["code"] == "payment_provider_unavailable"
    pay_emulator.delay("/v3/pay/transactions/jsapi", 3.0)  # longer than the 2 s client timeout
    timed_out = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert timed_out.status_code == 503
    assert [order.status for order in _orders(db)] == ["closed", "closed"]
    retried = client.post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert retried.status_code == 200
    assert [order.status for order in _orders(db)] == ["closed", "closed", "created"]


def test_a_refused_order_is_a_502_with_wechats_code(
    pay_app: Any, pay_emulator: PayEmulator, login: Any
) -> None:
    headers = _citizen(pay_app, login)
    bill_id = _bill(pay_app)
    pay_emulator.fail("/v3/pay/transactions/jsapi", 400, "PARAM_ERROR")
    answer = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert answer.status_code == 502
    assert answer.json["error"]["details"] == {"wechat_code": "PARAM_ERROR"}


def test_without_payments_enabled_paying_is_refused(app: Any, login: Any) -> None:
    headers = _citizen(app, login)
    bill_id = _bill(app)
    answer = app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert (answer.status_code, answer.json["error"]["code"]) == (404, "payments_disabled")
