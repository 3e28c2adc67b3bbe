"""``/api/v1/agency/bills``: keys, validation codes, idempotence, batches without partial rows."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from bot.identity.registry import id_lookup_hash
from storage.db import Database
from storage.models.bill import Bill
from tests.payments_support import CHILD_ID, EXAMS, add_agency, bill_body, load_demo_catalogue
from tests.registry_factories import ADULT_ID, settings_of


def _bills(db: Database) -> list[Bill]:
    with db.transaction() as session:
        return list(session.scalars(select(Bill).order_by(Bill.agency_ref)))


def test_a_bill_is_created_once_and_stored_without_the_id_number(
    app: Any, client: Any, db: Database
) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    first = client.post("/api/v1/agency/bills", json=bill_body(ADULT_ID), headers=agency.headers)
    assert first.status_code == 201, first.json
    assert first.json["outcome"] == "created"
    bill_json = first.json["bill"]
    assert bill_json["status"] == "open" and bill_json["amount_fen"] == 120_000
    assert bill_json["payer_name_masked"] == "张*明"
    again = client.post("/api/v1/agency/bills", json=bill_body(ADULT_ID), headers=agency.headers)
    assert again.status_code == 201 and again.json["outcome"] == "unchanged"
    assert again.json["bill"]["id"] == bill_json["id"]
    [bill] = _bills(db)
    assert bill.payer_id_hash == id_lookup_hash(settings_of(app).hash_key, ADULT_ID)
    assert ADULT_ID.encode() not in bill.payer_id_sealed
    assert "张三明".encode() not in bill.payer_name_sealed


def test_a_used_reference_with_other_content_is_a_conflict(app: Any, client: Any) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    client.post("/api/v1/agency/bills", json=bill_body(ADULT_ID), headers=agency.headers)
    other = bill_body(ADULT_ID, amount_fen=130_000)
    answer = client.post("/api/v1/agency/bills", json=other, headers=agency.headers)
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "bill_reference_conflict"


def test_each_bad_bill_has_its_own_code(app: Any, client: Any, db: Database) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    cases = [
        (bill_body(ADULT_ID, item_code="NO-SUCH-ITEM"), 422, "item_not_found"),
        (bill_body(ADULT_ID, item_code="GD-GAOKAO-EXAM"), 422, "item_not_found"),  # not ours
        (bill_body(ADULT_ID, amount_fen=10), 422, "amount_out_of_range"),
        (bill_body(ADULT_ID, amount_fen=175_001), 422, "amount_out_of_range"),
        (
            bill_body(ADULT_ID[:-1] + ("0" if ADULT_ID[-1] != "0" else "1")),
            400,
            "id_number_invalid",
        ),
        (bill_body(ADULT_ID, amount_fen=1200.5), 400, "validation_error"),  # fen are integers
        (bill_body(ADULT_ID, due_on="28/02/2027"), 400, "validation_error"),
    ]
    for body, status, code in cases:
        answer = client.post("/api/v1/agency/bills", json=body, headers=agency.headers)
        assert (answer.status_code, answer.json["error"]["code"]) == (status, code), body
    assert _bills(db) == []


def test_a_wrong_key_is_refused_before_the_body_is_read(app: Any, client: Any) -> None:
    load_demo_catalogue(app)
    for headers in ({}, {"Authorization": "Bearer wza_nope"}, {"Authorization": "Bearer x"}):
        answer = client.post(
            "/api/v1/agency/bills",
            data="{not json",
            headers=headers,
            content_type="application/json",
        )
        assert answer.status_code == 401
        assert answer.json["error"]["code"] == "agency_key_invalid"


def test_a_batch_stores_its_good_rows_and_nothing_of_a_bad_one(
    app: Any, client: Any, db: Database
) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    for ref in ("R0", "R9"):
        client.post("/api/v1/agency/bills", json=bill_body(ADULT_ID, ref), headers=agency.headers)
    rows = [
        bill_body(ADULT_ID, "R0"),  # the same bill again
        bill_body(CHILD_ID, "R1", payer_name="李小华"),
        bill_body(ADULT_ID, "R2", amount_fen=1),
        bill_body("110101199003071239", "R3"),
        bill_body(ADULT_ID, "R4", item_code="GZ-HS-BOARDING", amount_fen=50_000),
        bill_body(ADULT_ID, "R4", amount_fen=60_000),  # repeats a reference of this batch
        bill_body(ADULT_ID, "R9", amount_fen=99_000),  # a used reference, other content
    ]
    answer = client.post("/api/v1/agency/bills/batch", json={"bills": rows}, headers=agency.headers)
    assert answer.status_code == 200, answer.json
    result = answer.json
    assert (result["created"], result["unchanged"], result["failed"]) == (2, 1, 4)
    statuses = [
        (row["index"], row["status"], row.get("error", {}).get("code")) for row in result["results"]
    ]
    assert statuses == [
        (0, "unchanged", None),
        (1, "created", None),
        (2, "failed", "amount_out_of_range"),
        (3, "failed", "id_number_invalid"),
        (4, "created", None),
        (5, "failed", "bill_invalid"),
        (6, "failed", "bill_reference_conflict"),
    ]
    stored = _bills(db)
    assert [(bill.agency_ref, bill.amount_fen) for bill in stored] == [
        ("R0", 120_000),
        ("R1", 120_000),
        ("R4", 50_000),
        ("R9", 120_000),
    ]


def test_concurrent_sends_of_one_bill_leave_one_row(app: Any, db: Database) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app, EXAMS)
    body = bill_body(ADULT_ID, "EXAM-1", item_code="GD-GAOKAO-EXAM", amount_fen=16000)
    answers: list[tuple[int, str, str]] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        local = app.test_client()
        barrier.wait()
        answer = local.post("/api/v1/agency/bills", json=body, headers=agency.headers)
        answers.append((answer.status_code, answer.json["outcome"], answer.json["bill"]["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _, _ in answers} == {201}
    assert sorted(outcome for _, outcome, _ in answers) == ["created"] + ["unchanged"] * 7
    assert len({bill_id for _, _, bill_id in answers}) == 1
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Bill)) == 1
