"""Key rotation covers bills: their sealed payer fields are re-sealed and their payer hash
re-hashed, so a citizen still finds their bills once the old keys are gone."""

from __future__ import annotations

import base64
import os
from typing import Any

from bot.extensions import database, settings
from bot.payments.bills import list_citizen_bills
from tests.payments_support import add_agency, issue_bill_to, load_demo_catalogue
from tests.registry_factories import ADULT_ID, add_record, issue


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _bills(app: Any) -> list[Any]:
    with database(app).transaction() as session:
        return list_citizen_bills(session, settings(app), "o-payer")


def test_bills_survive_data_and_hash_key_rotation(app: Any, make_app: Any) -> None:
    load_demo_catalogue(app)
    bill_id = issue_bill_to(app, add_agency(app), ADULT_ID, "T-1")
    issue(app, add_record(app), openid="o-payer")
    old_data, old_hash = settings(app).data_key, settings(app).hash_key
    new_data, new_hash = os.urandom(32), os.urandom(32)
    rotating = make_app(
        data_key=_b64(new_data),
        data_keys_retired=_b64(old_data),
        hash_key=_b64(new_hash),
        hash_keys_retired=_b64(old_hash),
    )
    assert [bill.id for bill in _bills(rotating)] == [bill_id]  # found under the retired keys
    runner = rotating.test_cli_runner()
    assert runner.invoke(args=["keys", "rotate-data-key"]).exit_code == 0
    hashed = runner.invoke(args=["keys", "rotate-hash-key"])
    assert hashed.exit_code == 0 and "done: 2 re-hashed" in hashed.output, hashed.output

    rotated = make_app(data_key=_b64(new_data), hash_key=_b64(new_hash))  # old keys gone
    [bill] = _bills(rotated)
    assert (bill.id, bill.payer_name_masked) == (bill_id, "张*明")
