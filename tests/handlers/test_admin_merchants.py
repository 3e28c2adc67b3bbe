"""The admin JSON API for merchants: admin key, create, rotate, disable, input checks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.extensions import database
from storage.models.merchant import Merchant

ADMIN = {"Authorization": "Bearer test-admin-key-" + "x" * 32}


def _count(app: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Merchant)) or 0)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-admin-key-" + "x" * 32}],
)
def test_admin_key_is_required(app: Any, client: Any, headers: dict[str, str]) -> None:
    response = client.post(
        "/admin/api/merchants", json={"name": "A", "category": "hotel"}, headers=headers
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "admin_key_invalid"
    assert client.get("/admin/api/merchants", headers=headers).status_code == 401
    assert _count(app) == 0


def test_create_list_rotate_disable(db: Any, client: Any) -> None:
    created = client.post(
        "/admin/api/merchants",
        json={"name": "如家酒店", "category": "hotel", "scopes": ["name_masked", "full_identity"]},
        headers=ADMIN,
    )
    assert created.status_code == 201
    body = created.get_json()
    merchant, key = body["merchant"], body["api_key"]
    assert key.startswith("wzm_") and merchant["scopes"] == [
        "result",
        "name_masked",
        "full_identity",
    ]
    listed = client.get("/admin/api/merchants", headers=ADMIN).get_data(as_text=True)
    assert key not in listed and merchant["public_id"] in listed
    with db.transaction() as session:
        row = session.scalars(select(Merchant)).one()
        assert key not in row.key_hash and len(row.key_hash) == 64
    pid = merchant["public_id"]
    rotated = client.post(f"/admin/api/merchants/{pid}/rotate-key", headers=ADMIN).get_json()
    assert rotated["api_key"] != key
    disabled = client.post(f"/admin/api/merchants/{pid}/disable", headers=ADMIN).get_json()
    assert disabled["merchant"]["enabled"] is False
    assert (
        client.get(f"/admin/api/merchants/{pid}", headers=ADMIN).get_json()["merchant"]["enabled"]
        is False
    )
    assert client.post(f"/admin/api/merchants/{pid}/enable", headers=ADMIN).status_code == 200
    missing = client.post("/admin/api/merchants/m_nope/disable", headers=ADMIN)
    assert (
        missing.status_code == 404 and missing.get_json()["error"]["code"] == "merchant_not_found"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"name": "Cafe", "category": "internet_cafe", "scopes": ["full_identity"]},
            "scope_invalid",
        ),
        ({"name": "Cafe", "category": "casino"}, "validation_error"),
        ({"name": "Cafe", "category": "other", "scopes": ["everything"]}, "validation_error"),
        ({"name": "", "category": "other"}, "validation_error"),
        ({"name": "x" * 121, "category": "other"}, "validation_error"),
        ({"name": "Cafe", "category": "other", "extra": 1}, "validation_error"),
        ({"name": 5, "category": "other"}, "validation_error"),
        ({"name": "\u202eevil", "category": "other"}, "name_invalid"),
    ],
)
def test_bad_merchant_input_writes_nothing(app: Any, client: Any, body: Any, code: str) -> None:
    response = client.post("/admin/api/merchants", json=body, headers=ADMIN)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert _count(app) == 0
