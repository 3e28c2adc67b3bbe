"""Refunds (agency API and CLI, settled by the emulator's refund notification, idempotent,
never more than paid) and the daily reconciliation against the emulator's trade bill."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from bot.wechat.emulator.pay import PayEmulator
from storage.db import Database
from storage.models.bill import Bill
from storage.models.payment_order import PaymentOrder
from tests.payments_support import Agency, add_agency, issue_bill_to, load_demo_catalogue
from tests.registry_factories import ADULT_ID, add_record, issue

OPENID = "o-payer"
BEIJING = dt.timezone(dt.timedelta(hours=8))


def _paid_bill(
    app: Any, emulator: PayEmulator, login: Any, agency: Agency, ref: str
) -> tuple[str, str]:
    """Issue a bill to the payer and pay it through the emulator; (bill id, out_trade_no)."""
    bill_id = issue_bill_to(app, agency, ADULT_ID, ref)
    headers = {"Authorization": f"Bearer {login(openid=OPENID).access_token}"}
    started = app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert started.status_code == 200, started.json
    out_trade_no = started.json["out_trade_no"]
    assert emulator.pay(out_trade_no, OPENID) == [200]
    return bill_id, out_trade_no


def _bill(db: Database, bill_id: str) -> Bill:
    with db.transaction() as session:
        bill = session.get(Bill, bill_id)
        assert bill is not None
        return bill


def _setup(app: Any) -> Agency:
    issue(app, add_record(app), openid=OPENID)
    load_demo_catalogue(app)
    return add_agency(app)


def test_an_agency_refunds_in_parts_idempotently_and_never_more_than_paid(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    agency = _setup(pay_app)
    bill_id, _ = _paid_bill(pay_app, pay_emulator, login, agency, "T-1")
    client = pay_app.test_client()
    url = f"/api/v1/agency/bills/{bill_id}/refunds"
    first = client.post(
        url, json={"amount_fen": 20_000, "refund_ref": "R1"}, headers=agency.headers
    )
    assert first.status_code == 201, first.json
    assert first.json["status"] == "processing"
    out_refund_no = first.json["out_refund_no"]
    pay_emulator.duplicates = 3
    assert pay_emulator.settle_refund(out_refund_no) == [200, 200, 200]
    bill = _bill(db, bill_id)
    assert (bill.status, bill.refunded_fen) == ("paid", 20_000)

    again = client.post(
        url, json={"amount_fen": 20_000, "refund_ref": "R1"}, headers=agency.headers
    )
    assert (again.status_code, again.json["status"]) == (201, "success")
    assert len(pay_emulator.refunds) == 1
    reused = client.post(
        url, json={"amount_fen": 30_000, "refund_ref": "R1"}, headers=agency.headers
    )
    assert (reused.status_code, reused.json["error"]["code"]) == (409, "refund_invalid")
    too_much = client.post(
        url, json={"amount_fen": 100_001, "refund_ref": "R2"}, headers=agency.headers
    )
    assert (too_much.status_code, too_much.json["error"]["code"]) == (409, "refund_invalid")

    rest = client.post(
        url, json={"amount_fen": 100_000, "refund_ref": "R2"}, headers=agency.headers
    )
    assert rest.status_code == 201
    pay_emulator.duplicates = 1
    assert pay_emulator.settle_refund(rest.json["out_refund_no"]) == [200]
    bill = _bill(db, bill_id)
    assert (bill.status, bill.refunded_fen) == ("refunded", 120_000)


def test_another_agency_cannot_refund_and_an_open_bill_cannot_be_refunded(
    pay_app: Any, pay_emulator: PayEmulator, login: Any
) -> None:
    agency = _setup(pay_app)
    bill_id, _ = _paid_bill(pay_app, pay_emulator, login, agency, "T-1")
    open_bill = issue_bill_to(pay_app, agency, ADULT_ID, "T-2")
    other = add_agency(pay_app, "广东省教育考试院")
    client = pay_app.test_client()
    body = {"amount_fen": 100, "refund_ref": "X"}
    foreign = client.post(
        f"/api/v1/agency/bills/{bill_id}/refunds", json=body, headers=other.headers
    )
    assert (foreign.status_code, foreign.json["error"]["code"]) == (404, "bill_not_found")
    unpaid = client.post(
        f"/api/v1/agency/bills/{open_bill}/refunds", json=body, headers=agency.headers
    )
    assert (unpaid.status_code, unpaid.json["error"]["code"]) == (409, "refund_invalid")
    assert pay_emulator.refunds == {}


def test_reconcile_finds_nothing_then_every_kind_of_difference(
    pay_app: Any, pay_emulator: PayEmulator, login: Any, db: Database
) -> None:
    agency = _setup(pay_app)
    _, first = _paid_bill(pay_app, pay_emulator, login, agency, "T-1")
    _, second = _paid_bill(pay_app, pay_emulator, login, agency, "T-2")
    runner = pay_app.test_cli_runner()
    refunded = runner.invoke(
        args=["payments", "refund", first, "--amount", "5000", "--ref", "CLI-1"]
    )
    assert refunded.exit_code == 0, refunded.output
    assert "status=processing" in refunded.output
    pay_emulator.settle_refund("CLI-1")
    today = dt.datetime.fromtimestamp(pay_emulator.now(), BEIJING).date().isoformat()

    clean = runner.invoke(args=["payments", "reconcile", today])
    assert clean.exit_code == 0, clean.output
    assert "payments=2 refunds=1 differences=0" in clean.output

    # WeChat has a payment we never heard of, and our record of another disagrees.
    bill_id = issue_bill_to(pay_app, agency, ADULT_ID, "T-3")
    headers = {"Authorization": f"Bearer {login(openid=OPENID).access_token}"}
    started = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    pay_emulator.pay(started.json["out_trade_no"], OPENID, notify=False)
    with db.transaction() as session:
        session.execute(
            update(PaymentOrder).where(PaymentOrder.out_trade_no == second).values(amount_fen=1)
        )
    dirty = runner.invoke(args=["payments", "reconcile", today])
    assert dirty.exit_code == 1
    assert f"missing_ours order={started.json['out_trade_no']} ours=- theirs=120000" in dirty.output
    assert f"amount_mismatch order={second} ours=1 theirs=120000" in dirty.output
    assert "differences=2" in dirty.output
    with db.transaction() as session:
        assert (
            session.scalars(
                select(PaymentOrder.status).where(PaymentOrder.out_trade_no == second)
            ).one()
            == "paid"
        )
