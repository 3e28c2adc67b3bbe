"""The WeChat Pay emulator checks the merchant's signature, signs its answers, seals its
certificates and refuses what WeChat Pay refuses; it never pays by itself."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3.utils import build_authorization, load_private_key
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from bot.wechat.emulator import RunningEmulator, serve
from bot.wechat.emulator.pay import PayEmulator
from bot.wechat.emulator.payloads import BEIJING, PayError
from bot.wechat.emulator.payroutes import route
from bot.wechat.emulator.paysign import load_public_key, new_rsa_key, private_pem, rsa_verify

MCH, APP, APIV3 = "1900000109", "wx0de7e1000000emu1", "WangzhengDevEmulatorApiV3Key0001"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


@pytest.fixture
def merchant_pem() -> str:
    """A merchant key."""
    return private_pem(new_rsa_key())


@pytest.fixture
def served(merchant_pem: str) -> Iterator[RunningEmulator]:
    """The emulator on loopback, trusting ``merchant_pem``."""
    emulator = PayEmulator(MCH, APP, APIV3, SERIAL, merchant_pem)
    running = serve(emulator)
    yield running
    running.stop()


def _get(running: RunningEmulator, path: str, pem: str, serial: str = SERIAL) -> requests.Response:
    authorization = build_authorization(path, "GET", MCH, serial, load_private_key(pem))
    return requests.get(
        running.base_url + path, headers={"Authorization": authorization}, timeout=30
    )


def test_unsigned_or_foreign_signed_requests_are_refused(
    served: RunningEmulator, merchant_pem: str
) -> None:
    bare = requests.get(served.base_url + "/v3/certificates", timeout=30)
    assert (bare.status_code, bare.json()["code"]) == (401, "SIGN_ERROR")
    other = _get(served, "/v3/certificates", private_pem(new_rsa_key()))
    assert (other.status_code, other.json()["code"]) == (401, "SIGN_ERROR")
    unknown_serial = _get(served, "/v3/certificates", merchant_pem, serial="00AB")
    assert unknown_serial.status_code == 401


def test_certificates_are_sealed_and_answers_signed(
    served: RunningEmulator, merchant_pem: str
) -> None:
    answer = _get(served, "/v3/certificates", merchant_pem)
    assert answer.status_code == 200
    emulator: PayEmulator = served.emulator
    [entry] = answer.json()["data"]
    sealed = entry["encrypt_certificate"]
    pem = AESGCM(APIV3.encode()).decrypt(
        sealed["nonce"].encode(),
        base64.b64decode(sealed["ciphertext"]),
        sealed["associated_data"].encode(),
    )
    certificate = x509.load_pem_x509_certificate(pem)
    assert format(certificate.serial_number, "X") == entry["serial_no"] == emulator.serial
    headers = answer.headers
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{answer.text}\n"
    public = load_public_key(
        certificate.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    assert rsa_verify(public, message, headers["Wechatpay-Signature"])
    assert not rsa_verify(public, message + "x", headers["Wechatpay-Signature"])


def test_an_order_is_paid_only_by_its_payer_and_only_once(
    served: RunningEmulator, merchant_pem: str
) -> None:
    emulator: PayEmulator = served.emulator
    body = {
        "appid": APP,
        "mchid": MCH,
        "description": "普通高考报名考试费",
        "out_trade_no": "WZ0123456789",
        "notify_url": "http://127.0.0.1:9/notify",
        "amount": {"total": 16000, "currency": "CNY"},
        "payer": {"openid": "o-payer"},
    }
    text = json.dumps(body)
    path = "/v3/pay/transactions/jsapi"
    authorization = build_authorization(
        path, "POST", MCH, SERIAL, load_private_key(merchant_pem), data=text
    )
    answer = requests.post(
        served.base_url + path,
        data=text,
        headers={"Authorization": authorization, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200 and answer.json()["prepay_id"].startswith("wx")
    with pytest.raises(ValueError, match="another user"):
        emulator.pay("WZ0123456789", "o-someone-else", notify=False)
    assert emulator.orders["WZ0123456789"].trade_state == "NOTPAY"
    emulator.pay("WZ0123456789", "o-payer", notify=False)
    with pytest.raises(ValueError):
        emulator.pay("WZ0123456789", "o-payer", notify=False)
    query = _get(
        served, "/v3/pay/transactions/out-trade-no/WZ0123456789?mchid=" + MCH, merchant_pem
    )
    assert query.json()["trade_state"] == "SUCCESS"
    assert query.json()["amount"]["total"] == 16000


@pytest.mark.parametrize("utc_hour", [3, 17])  # Beijing's today is UTC's today, then UTC's tomorrow
def test_the_trade_bill_is_by_beijing_day(utc_hour: int, merchant_pem: str) -> None:
    moment = dt.datetime(2026, 11, 27, utc_hour, tzinfo=dt.UTC)
    emulator = PayEmulator(MCH, APP, APIV3, SERIAL, merchant_pem, clock=moment.timestamp)
    beijing_today = moment.astimezone(BEIJING).date()
    path = "/v3/bill/tradebill"

    def ask(day: dt.date) -> tuple[int, str, str]:
        request = Request(
            EnvironBuilder(path=path, query_string={"bill_date": str(day)}).get_environ()
        )
        return route(emulator, request, path, {"bill_date": day.isoformat()}, "")

    status, body, _ = ask(beijing_today)
    assert status == 200 and "download_url" in json.loads(body)
    with pytest.raises(PayError) as refused:
        ask(beijing_today + dt.timedelta(days=1))
    assert (refused.value.status, refused.value.code) == (400, "NO_STATEMENT_EXIST")
