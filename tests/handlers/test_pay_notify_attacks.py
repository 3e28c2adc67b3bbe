"""Attacks on ``POST /api/v1/payments/notify``: each forged, replayed or mismatched notification
is refused with its own code over real HTTP, and leaves the bill unpaid."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from bot.wechat.emulator.pay import PayEmulator
from bot.wechat.emulator.paysign import new_rsa_key, signed_headers
from storage.db import Database
from storage.models.bill import Bill
from tests.payments_support import PayStack, add_agency, issue_bill_to, load_demo_catalogue
from tests.registry_factories import ADULT_ID, add_record, issue

OPENID = "o-payer"


@pytest.fixture
def paid_at_wechat(pay_app: Any, pay_emulator: PayEmulator, login: Any) -> tuple[str, str]:
    """A bill whose order the user paid at WeChat, the notification not yet delivered."""
    issue(pay_app, add_record(pay_app), openid=OPENID)
    load_demo_catalogue(pay_app)
    bill_id = issue_bill_to(pay_app, add_agency(pay_app), ADULT_ID, "T-1")
    headers = {"Authorization": f"Bearer {login(openid=OPENID).access_token}"}
    started = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    out_trade_no = started.json["out_trade_no"]
    pay_emulator.pay(out_trade_no, OPENID, notify=False)
    return bill_id, out_trade_no


def _send(stack: PayStack, headers: dict[str, str], body: str) -> tuple[int, dict[str, Any]]:
    answer = requests.post(
        stack.app_server.base_url + "/api/v1/payments/notify",
        data=body.encode(),
        headers=headers,
        timeout=30,
    )
    return answer.status_code, answer.json()


def _status(db: Database, bill_id: str) -> str:
    with db.transaction() as session:
        bill = session.get(Bill, bill_id)
        assert bill is not None
        return bill.status


def test_the_genuine_notification_is_accepted(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    headers, body = pay_stack.emulator.transaction_notification(out_trade_no)
    assert _send(pay_stack, headers, body) == (200, {"code": "SUCCESS", "message": "成功"})
    assert _status(db, bill_id) == "paid"
    # The same notification again (WeChat's redelivery) is acknowledged, not applied twice.
    assert _send(pay_stack, headers, body)[0] == 200


def test_a_body_changed_after_signing_is_a_bad_signature(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    headers, body = pay_stack.emulator.transaction_notification(out_trade_no)
    forged = json.loads(body)
    forged["summary"] = "支付成功!"
    answer = _send(pay_stack, headers, json.dumps(forged, ensure_ascii=False))
    assert answer == (401, {"code": "FAIL", "message": "bad_signature"})
    assert _status(db, bill_id) == "open"


def test_a_signature_by_another_key_under_the_platform_serial_is_refused(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    emulator = pay_stack.emulator
    headers, body = emulator.transaction_notification(out_trade_no)
    stamp = int(headers["Wechatpay-Timestamp"])
    forged = {**headers, **signed_headers(new_rsa_key(), emulator.serial, body, stamp)}
    assert _send(pay_stack, forged, body) == (401, {"code": "FAIL", "message": "bad_signature"})
    assert _status(db, bill_id) == "open"


def test_an_unknown_serial_is_refused_and_refreshes_certificates_at_most_once(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    emulator = pay_stack.emulator
    headers, body = emulator.transaction_notification(out_trade_no)
    stamp = int(headers["Wechatpay-Timestamp"])
    before = [call for call in emulator.calls if call[1] == "/v3/certificates"]
    for _ in range(3):
        forged = {**headers, **signed_headers(new_rsa_key(), "1A2B3C4D5E6F", body, stamp)}
        answer = _send(pay_stack, forged, body)
        assert answer == (401, {"code": "FAIL", "message": "unknown_serial"})
    after = [call for call in emulator.calls if call[1] == "/v3/certificates"]
    assert len(after) - len(before) <= 1
    assert _status(db, bill_id) == "open"


@pytest.mark.parametrize("offset", [-3600, -301, 301, 3600])
def test_a_stale_or_future_timestamp_is_refused_though_genuinely_signed(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database, offset: int
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    emulator = pay_stack.emulator
    headers, body = emulator.transaction_notification(
        out_trade_no, timestamp=int(emulator.now()) + offset
    )
    answer = _send(pay_stack, headers, body)
    assert answer == (401, {"code": "FAIL", "message": "stale_timestamp"})
    assert _status(db, bill_id) == "open"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"amount": {"total": 1, "payer_total": 1, "currency": "CNY"}}, 409, "amount_mismatch"),
        ({"mchid": "1900000999"}, 409, "merchant_mismatch"),
        ({"appid": "wx00000000000000ff"}, 409, "merchant_mismatch"),
        ({"payer": {"openid": "o-someone-else"}}, 409, "payer_mismatch"),
        ({"out_trade_no": "WZ000000000000000000000000000000"}, 404, "unknown_order"),
    ],
)
def test_a_signed_notification_that_does_not_match_our_order_is_refused(
    pay_stack: PayStack,
    paid_at_wechat: tuple[str, str],
    db: Database,
    changes: dict[str, Any],
    status: int,
    code: str,
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    headers, body = pay_stack.emulator.transaction_notification(out_trade_no, **changes)
    assert _send(pay_stack, headers, body) == (status, {"code": "FAIL", "message": code})
    assert _status(db, bill_id) == "open"


def test_missing_headers_are_refused(
    pay_stack: PayStack, paid_at_wechat: tuple[str, str], db: Database
) -> None:
    bill_id, out_trade_no = paid_at_wechat
    headers, body = pay_stack.emulator.transaction_notification(out_trade_no)
    del headers["Wechatpay-Signature"]
    assert _send(pay_stack, headers, body) == (401, {"code": "FAIL", "message": "headers_missing"})
    assert _status(db, bill_id) == "open"
