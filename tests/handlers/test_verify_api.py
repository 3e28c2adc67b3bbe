"""The verify API's disclosures, pseudonyms, merchant auth, rate limit, bad input and history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.extensions import database
from bot.identity.idnumber import make_id_number
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify
from tests.registry_factories import ADULT_ID, MINOR_ID, add_merchant


def _audit_count(app: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(VerificationAudit)) or 0)


def test_scopes_disclose_exactly_their_fields(app: Any, client: Any, login: Any) -> None:
    citizen = enrolled(app, login, level="upgraded")
    key = merchant_key(app)
    expected = {
        "result": {},
        "age_over_18": {"age_over_18": True},
        "name_masked": {"name_masked": "张*明"},
        "full_identity": {"name": "张三明", "id_number": ADULT_ID},
    }
    for scope, claims in expected.items():
        status, answer = verify(client, key, fetch_token(client, citizen.access_token), scope=scope)
        assert status == 200 and answer["claims"] == claims and answer["level"] == "upgraded"


def test_minor_is_not_over_18(app: Any, client: Any, login: Any) -> None:
    citizen = enrolled(app, login, id_number=MINOR_ID)
    answer = verify(
        client, merchant_key(app), fetch_token(client, citizen.access_token), scope="age_over_18"
    )[1]
    assert answer["claims"] == {"age_over_18": False}


def test_pseudonyms_differ_between_merchants_and_are_stable(
    app: Any, client: Any, login: Any
) -> None:
    first = enrolled(app, login)
    second = enrolled(
        app,
        login,
        openid="o-other",
        device_id="phone-b",
        id_number=make_id_number("440305", dt.date(1985, 5, 5), 7),
        name="李四",
    )
    hotel, bank = merchant_key(app), merchant_key(app, name="Bank", category="bank")

    def pseudonym(key: str, citizen: Any) -> str:
        return str(
            verify(client, key, fetch_token(client, citizen.access_token))[1]["subject_pseudonym"]
        )

    assert pseudonym(hotel, first) == pseudonym(hotel, first)
    assert pseudonym(hotel, first) != pseudonym(bank, first)
    assert pseudonym(hotel, first) != pseudonym(hotel, second)


@pytest.mark.parametrize("header", [None, "Bearer wzm_unknown", "Basic abc", "Bearer " + "x" * 300])
def test_unknown_key_is_401(app: Any, client: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/verify", json={"token": "a.b.c"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "merchant_key_invalid"
    assert _audit_count(app) == 0


def test_disabled_and_rotated_keys_are_401(app: Any, client: Any, login: Any, runner: Any) -> None:
    citizen = enrolled(app, login)
    issued = add_merchant(app)
    token = fetch_token(client, citizen.access_token)
    rotated = runner.invoke(args=["merchants", "rotate-key", issued.merchant.public_id])
    assert rotated.exit_code == 0
    new_key = rotated.output.split()[-1]
    assert verify(client, issued.api_key, token)[0] == 401
    assert verify(client, new_key, token)[1]["result"] == "valid"
    assert runner.invoke(args=["merchants", "disable", issued.merchant.public_id]).exit_code == 0
    assert verify(client, new_key, token)[0] == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_body"),
        (b"{}", "application/json", 400, "validation_error"),
        (b'{"token": 123}', "application/json", 400, "validation_error"),
        (b'{"token": "a.b.c", "admin": true}', "application/json", 400, "validation_error"),
        (b'{"token": "a.b.c", "scope": "everything"}', "application/json", 400, "validation_error"),
        (
            b'{"token": "a.b.c", "required_level": "gold"}',
            "application/json",
            400,
            "validation_error",
        ),
        (b'{"token": "' + b"x" * 5000 + b'"}', "application/json", 400, "validation_error"),
        (b'["a.b.c"]', "application/json", 400, "validation_error"),
        (b"token=a.b.c", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_is_4xx_and_writes_nothing(
    app: Any, client: Any, body: bytes, content_type: str, status: int, code: str
) -> None:
    key = merchant_key(app)
    response = client.post(
        "/api/v1/verify",
        data=body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert _audit_count(app) == 0


def test_history_lists_who_verified_me(app: Any, client: Any, login: Any) -> None:
    citizen = enrolled(app, login, level="upgraded")
    stranger = login("o-stranger", "phone-x")
    bank = merchant_key(app, name="招商银行", category="bank")
    verify(client, bank, fetch_token(client, citizen.access_token), scope="full_identity")
    token = fetch_token(client, citizen.access_token)
    verify(client, bank, token, scope="name_masked")
    verify(client, bank, token)
    mine = client.get(
        "/api/v1/me/verifications", headers={"Authorization": f"Bearer {citizen.access_token}"}
    )
    entries = mine.get_json()["verifications"]
    assert [
        (e["merchant"], e["result"], e["reason"], e["scope"], e["disclosed"]) for e in entries
    ] == [
        ("招商银行", "invalid", "replayed", "result", []),
        ("招商银行", "valid", None, "name_masked", ["name_masked"]),
        ("招商银行", "valid", None, "full_identity", ["name", "id_number"]),
    ]
    assert ADULT_ID not in mine.get_data(as_text=True)
    others = client.get(
        "/api/v1/me/verifications", headers={"Authorization": f"Bearer {stranger.access_token}"}
    )
    assert others.get_json() == {"verifications": []}
    assert (
        client.get(
            "/api/v1/me/verifications?limit=0",
            headers={"Authorization": f"Bearer {citizen.access_token}"},
        ).status_code
        == 400
    )
    assert client.get("/api/v1/me/verifications").status_code == 401
