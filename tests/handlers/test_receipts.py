"""Receipts: the paid bill's PDF carries a QR whose token verifies against our public keys,
says what the receipt says, fails when tampered with, and never passes for a presentation."""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

import cv2
import jwt
import numpy as np
import pytest

from bot.payments.receipts import verify_receipt_token
from bot.wechat.emulator.pay import PayEmulator
from tests.payments_support import CHILD_ID, add_agency, issue_bill_to, load_demo_catalogue
from tests.registry_factories import ADULT_ID, add_merchant, add_record, issue

OPENID = "o-payer"
_RECT = re.compile(rb"(-?[\d.]+) (-?[\d.]+) (-?[\d.]+) (-?[\d.]+) re")


def qr_text_in_pdf(pdf: bytes) -> str:
    """Read the QR back out of the PDF: its filled squares, rasterised and decoded by OpenCV."""
    rects: list[tuple[float, float, float]] = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = raw.strip()
        if data.endswith(b"~>"):  # reportlab's /ASCII85Decode /FlateDecode
            data = base64.a85decode(data[:-2].replace(b"\n", b""))
        try:
            content = zlib.decompress(data)
        except zlib.error:
            content = data
        rects += [(float(x), float(y), float(w)) for x, y, w, _h in _RECT.findall(content)]
    assert rects, "no QR modules drawn"
    module = rects[0][2]
    left, top = min(x for x, _, _ in rects), max(y for _, y, _ in rects)
    size = round((max(x for x, _, _ in rects) - left) / module) + 1
    grid = np.full((size + 8, size + 8), 255, dtype=np.uint8)  # a 4-module quiet zone
    for x, y, _ in rects:
        grid[4 + round((top - y) / module), 4 + round((x - left) / module)] = 0
    # OpenCV's classic detector misses about one large code in ten; a few scales and its ArUco
    # based detector read every one (checked on 100 random tokens of this length).
    for scale in (8, 5, 10, 4, 12):
        image = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
            text, _points, _ = detector.detectAndDecode(image)
            if text:
                return str(text)
    return ""


def _public_keys(client: Any) -> dict[str, Any]:
    keys = client.get("/.well-known/jwks.json").json["keys"]
    return {key["kid"]: jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(key)) for key in keys}


@pytest.fixture
def paid(pay_app: Any, pay_emulator: PayEmulator, login: Any) -> tuple[str, str, dict[str, str]]:
    """A bill paid through the emulator: (bill id, out_trade_no, the payer's headers)."""
    issue(pay_app, add_record(pay_app), openid=OPENID)
    load_demo_catalogue(pay_app)
    bill_id = issue_bill_to(pay_app, add_agency(pay_app), ADULT_ID, "T-1")
    headers = {"Authorization": f"Bearer {login(openid=OPENID).access_token}"}
    started = pay_app.test_client().post(f"/api/v1/me/bills/{bill_id}/pay", headers=headers)
    assert pay_emulator.pay(started.json["out_trade_no"], OPENID) == [200]
    return bill_id, started.json["out_trade_no"], headers


def test_the_receipt_qr_verifies_and_says_what_was_paid(
    pay_app: Any, pay_emulator: PayEmulator, paid: tuple[str, str, dict[str, str]]
) -> None:
    bill_id, out_trade_no, headers = paid
    client = pay_app.test_client()
    answer = client.get(f"/api/v1/me/bills/{bill_id}/receipt", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    pdf = answer.get_data()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    token = qr_text_in_pdf(pdf)
    claims = verify_receipt_token(token, _public_keys(client), "wangzheng")
    assert claims["bill"] == bill_id and claims["amt"] == 120_000
    assert claims["txn"] == pay_emulator.orders[out_trade_no].transaction_id
    assert claims["item"] == "GZ-HS-TUITION" and claims["otn"] == out_trade_no
    assert ADULT_ID not in json.dumps(claims, ensure_ascii=False)

    header, payload, signature = token.split(".")
    forged = json.loads(jwt.utils.base64url_decode(payload))
    forged["amt"] = 1
    tampered = ".".join(
        (header, jwt.utils.base64url_encode(json.dumps(forged).encode()).decode(), signature)
    )
    with pytest.raises(jwt.InvalidTokenError):
        verify_receipt_token(tampered, _public_keys(client), "wangzheng")


def test_a_receipt_token_is_not_a_presentation(
    pay_app: Any, paid: tuple[str, str, dict[str, str]]
) -> None:
    bill_id, _, headers = paid
    client = pay_app.test_client()
    pdf = client.get(f"/api/v1/me/bills/{bill_id}/receipt", headers=headers).get_data()
    merchant = add_merchant(pay_app)
    answer = client.post(
        "/api/v1/verify",
        json={"token": qr_text_in_pdf(pdf)},
        headers={"Authorization": f"Bearer {merchant.api_key}"},
    )
    assert answer.status_code == 200 and answer.json["result"] == "invalid"


def test_no_receipt_for_an_unpaid_or_someone_elses_bill(
    pay_app: Any, paid: tuple[str, str, dict[str, str]]
) -> None:
    _, _, headers = paid
    agency = add_agency(pay_app, "广州市公安局")
    client = pay_app.test_client()
    school = add_agency(pay_app, "深圳市南山区教育局")
    unpaid = issue_bill_to(
        pay_app, school, ADULT_ID, "S-1", item_code="SZ-HS-TUITION", amount_fen=90_000
    )
    theirs = issue_bill_to(
        pay_app, school, CHILD_ID, "S-2", item_code="SZ-HS-TUITION", amount_fen=90_000
    )
    assert agency.api_key
    answer = client.get(f"/api/v1/me/bills/{unpaid}/receipt", headers=headers)
    assert (answer.status_code, answer.json["error"]["code"]) == (409, "receipt_unavailable")
    answer = client.get(f"/api/v1/me/bills/{theirs}/receipt", headers=headers)
    assert (answer.status_code, answer.json["error"]["code"]) == (404, "bill_not_found")
