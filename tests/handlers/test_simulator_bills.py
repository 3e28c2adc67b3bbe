"""The simulator's bills in development: demo bills seeded, the page served, and a payment made
end to end through the mounted WeChat Pay emulator (it notifies the served app over HTTP),
then the receipt."""

from __future__ import annotations

from typing import Any

from bot.demo.service import DEMO_PEOPLE
from bot.extensions import database, settings
from bot.payments.demo import DEMO_BILLS, seed_demo_bills
from bot.wechat.emulator import serve
from tests.payments_support import LateApp
from tests.registry_factories import add_record, issue


def test_a_demo_person_pays_a_bill_in_the_simulator(make_app: Any, login: Any) -> None:
    late = LateApp()
    served = serve(late)
    try:
        app = make_app(
            env="development",
            bind=f"127.0.0.1:{served.server.server_port}",
            payments_enabled=True,
            wechat_outbox_dispatch="sync",
        )
        late.app = app
        person = DEMO_PEOPLE[0]
        people = [(p.id_number, p.name) for p in DEMO_PEOPLE]
        assert seed_demo_bills(database(app), settings(app), people) == len(DEMO_BILLS) * 3
        assert seed_demo_bills(database(app), settings(app), people) == 0  # idempotent
        issue(app, add_record(app, id_number=person.id_number, name=person.name), openid="o-demo")
        headers = {"Authorization": f"Bearer {login(openid='o-demo').access_token}"}
        client = app.test_client()

        page = client.get("/simulator/bills")
        assert page.status_code == 200 and b"bills.js" in page.data
        bills = client.get("/api/v1/me/bills", headers=headers).json["bills"]
        assert sorted(bill["item_code"] for bill in bills) == sorted(c for _, c, _ in DEMO_BILLS)
        tuition = next(bill for bill in bills if bill["item_code"] == "GZ-HS-TUITION")

        order = client.post(f"/api/v1/me/bills/{tuition['id']}/pay", headers=headers)
        assert order.status_code == 200, order.json
        confirmed = client.post(
            f"/simulator/api/wechat-pay/{order.json['out_trade_no']}/confirm", headers=headers
        )
        assert confirmed.status_code == 200 and confirmed.json == {"notified": [200]}
        again = client.post(
            f"/simulator/api/wechat-pay/{order.json['out_trade_no']}/confirm", headers=headers
        )
        assert again.status_code == 404  # paid once; the emulator refuses a second payment
        receipt = client.get(f"/api/v1/me/bills/{tuition['id']}/receipt", headers=headers)
        assert receipt.status_code == 200 and receipt.get_data().startswith(b"%PDF-")
    finally:
        served.stop()
