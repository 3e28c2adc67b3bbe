"""Builders and fixtures of the payments tests: the demo catalogue, agencies, bills, and the
WeChat Pay emulator with the app served over real HTTP (loaded by the root conftest)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.extensions import database, settings
from bot.identity.idnumber import make_id_number
from bot.payments.agencies import create_agency
from bot.payments.catalogue import DEMO_CATALOGUE, import_items, read_catalogue
from bot.payments.gateway import payment_gateway
from bot.wechat.config import DEV_APP_ID
from bot.wechat.emulator import RunningEmulator, serve
from bot.wechat.emulator.pay import PayEmulator
from bot.wechat.payconfig import DEV_APIV3_KEY, DEV_MCH_ID, NOTIFY_PATH

SCHOOL = "广州市天河区教育局"
EXAMS = "广东省教育考试院"
POLICE = "广州市公安局"
CHILD_ID = make_id_number("440106", dt.date(2012, 5, 17), 271)


@dataclass(frozen=True)
class Agency:
    """An agency's public id and API key."""

    public_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.api_key}"}


def load_demo_catalogue(app: Any) -> None:
    """Import the shipped demo catalogue."""
    report = import_items(database(app), read_catalogue(DEMO_CATALOGUE))
    assert not report.failures


def add_agency(app: Any, name: str = SCHOOL) -> Agency:
    """Create an agency."""
    with database(app).transaction() as session:
        agency, key = create_agency(session, settings(app), name)
    return Agency(agency.public_id, key)


def bill_body(id_number: str, ref: str = "INV-0001", **changes: Any) -> dict[str, Any]:
    """A valid bill of the school's high-school tuition for ``id_number``."""
    body: dict[str, Any] = {
        "item_code": "GZ-HS-TUITION",
        "payer_id_number": id_number,
        "payer_name": "张三明",
        "amount_fen": 120_000,
        "due_on": "2027-02-28",
        "agency_ref": ref,
    }
    body.update(changes)
    return body


class LateApp:
    """A WSGI app served before the Flask app exists (the notify URL needs the port first)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Hand the request to the app once it is set."""
        return self.app(environ, start_response)


@dataclass
class PayStack:
    """The Pay emulator and our app, each served over real HTTP on loopback."""

    emulator: PayEmulator
    emulator_server: RunningEmulator
    app_server: RunningEmulator
    late: LateApp


@pytest.fixture
def pay_stack(app_config: dict[str, Any]) -> Iterator[PayStack]:
    """Serve the Pay emulator and (later) the app; point the settings at both."""
    emulator = PayEmulator(DEV_MCH_ID, DEV_APP_ID, DEV_APIV3_KEY)
    emulator.notify_timeout_s = 30.0  # as the tests' other loopback calls: a stall is not a hang
    emulator_server, late = serve(emulator), LateApp()
    app_server = serve(late)
    app_config.update(
        payments_enabled=True,
        wechat_pay_api_base=emulator_server.base_url,
        wechat_pay_notify_url=app_server.base_url + NOTIFY_PATH,
        wechat_http_timeout_s=2,
    )
    yield PayStack(emulator, emulator_server, app_server, late)
    app_server.stop()
    emulator_server.stop()


@pytest.fixture
def pay_app(pay_stack: PayStack, app: Any) -> Any:
    """The app, served to the emulator's notifications, its merchant key trusted by it."""
    pay_stack.late.app = app
    config = payment_gateway(app).config  # type: ignore[attr-defined]
    pay_stack.emulator.trust_merchant(config.cert_serial_no, config.public_key_pem())
    return app


@pytest.fixture
def pay_emulator(pay_stack: PayStack, pay_app: Any) -> PayEmulator:
    """The Pay emulator, once the app is wired to it."""
    return pay_stack.emulator


def issue_bill_to(app: Any, agency: Agency, id_number: str, ref: str, **changes: Any) -> str:
    """Issue a bill through the API; returns its id."""
    answer = app.test_client().post(
        "/api/v1/agency/bills", json=bill_body(id_number, ref, **changes), headers=agency.headers
    )
    assert answer.status_code == 201, answer.json
    return str(answer.json["bill"]["id"])
