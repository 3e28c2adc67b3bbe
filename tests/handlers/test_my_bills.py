"""``GET /api/v1/me/bills``: bills meet their citizen through the credential's registry subject."""

from __future__ import annotations

from typing import Any

from tests.payments_support import CHILD_ID, add_agency, bill_body, load_demo_catalogue
from tests.registry_factories import ADULT_ID, add_record, issue


def _auth(login: Any, openid: str) -> dict[str, str]:
    tokens = login(openid=openid, device_id="device-1")
    return {"Authorization": f"Bearer {tokens.access_token}"}


def test_a_citizen_sees_only_the_bills_of_their_own_id_number(
    app: Any, client: Any, login: Any
) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    for ref, number in (("A-1", ADULT_ID), ("A-2", ADULT_ID), ("C-1", CHILD_ID)):
        answer = client.post(
            "/api/v1/agency/bills", json=bill_body(number, ref), headers=agency.headers
        )
        assert answer.status_code == 201
    adult = add_record(app)
    child = add_record(app, id_number=CHILD_ID, name="李小华")
    issue(app, adult, openid="o-adult")
    issue(app, child, openid="o-child")
    mine = client.get("/api/v1/me/bills", headers=_auth(login, "o-adult"))
    assert mine.status_code == 200
    assert sorted(bill["agency_ref"] for bill in mine.json["bills"]) == ["A-1", "A-2"]
    theirs = client.get("/api/v1/me/bills", headers=_auth(login, "o-child"))
    assert [bill["agency_ref"] for bill in theirs.json["bills"]] == ["C-1"]
    assert ADULT_ID not in mine.get_data(as_text=True)


def test_without_an_active_credential_there_are_no_bills(app: Any, client: Any, login: Any) -> None:
    answer = client.get("/api/v1/me/bills", headers=_auth(login, "o-nobody"))
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "no_credential"


def test_the_query_string_cannot_select_another_persons_bills(
    app: Any, client: Any, login: Any
) -> None:
    load_demo_catalogue(app)
    agency = add_agency(app)
    client.post("/api/v1/agency/bills", json=bill_body(CHILD_ID, "C-1"), headers=agency.headers)
    issue(app, add_record(app), openid="o-adult")
    answer = client.get(
        f"/api/v1/me/bills?payer_id_number={CHILD_ID}&subject_id=2", headers=_auth(login, "o-adult")
    )
    assert answer.status_code in (200, 400)
    assert "C-1" not in answer.get_data(as_text=True)
