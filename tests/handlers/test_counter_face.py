"""The counter check (刷證 + 刷臉) on real photos: the holder's face passes, anyone else's is
``face_mismatch``, an unusable photo gives its quality code, and only ``face`` merchants may ask."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from sqlalchemy import select

from bot.extensions import database
from storage.models.verification_audit import VerificationAudit
from tests.bot.face.imaging import FACE_ROOT
from tests.handlers.verify_helpers import Citizen, enrolled, fetch_token, merchant_key, verify

pytestmark = pytest.mark.face


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack."""
    return {**app_config, "face_model_root": FACE_ROOT}


def _counter(client: Any, key: str, token: str, photo: bytes, **fields: str) -> Any:
    data = {"token": token, "photo": (BytesIO(photo), "counter.jpg"), **fields}
    return client.post(
        "/api/v1/verify/face",
        data=data,
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {key}"},
    )


def _audit(app: Any) -> list[tuple[str, str | None, str]]:
    with database(app).transaction() as session:
        rows = session.scalars(select(VerificationAudit).order_by(VerificationAudit.id)).all()
        return [(row.result, row.reason, row.disclosed) for row in rows]


def test_the_holders_face_passes_and_the_audit_says_so(
    app: Any, client: Any, holder: Citizen, counter_key: str, photos: dict[str, bytes]
) -> None:
    token = fetch_token(client, holder.access_token)
    answer = _counter(client, counter_key, token, photos["obama2"], required_level="upgraded")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["result"] == "valid" and body["face"] == "match" and body["level"] == "upgraded"
    assert _audit(app) == [("valid", None, "face_match")]


def test_someone_elses_face_is_a_mismatch_and_burns_the_token(
    app: Any, client: Any, holder: Citizen, counter_key: str, photos: dict[str, bytes]
) -> None:
    token = fetch_token(client, holder.access_token)
    answer = _counter(client, counter_key, token, photos["biden"])
    assert answer.get_json() == {"result": "invalid", "reason": "face_mismatch"}
    assert _audit(app) == [("invalid", "face_mismatch", "")]
    # The token was used: the impostor cannot try again with another face.
    again = _counter(client, counter_key, token, photos["obama2"])
    assert again.get_json() == {"result": "invalid", "reason": "replayed"}


@pytest.mark.parametrize(
    ("photo", "reason"),
    [("group", "face_multiple"), ("not_an_image", "image_invalid"), ("tiny", "face_too_small")],
)
def test_an_unusable_counter_photo_gives_its_quality_code(
    client: Any,
    holder: Citizen,
    counter_key: str,
    photos: dict[str, bytes],
    photo: str,
    reason: str,
) -> None:
    from tests.bot.face.imaging import to_image, to_jpeg

    samples = {
        "group": photos["group"],
        "not_an_image": b"%PDF-1.4 definitely not a face",
        "tiny": to_jpeg(to_image(photos["obama2"]).resize((180, 345))),
    }
    token = fetch_token(client, holder.access_token)
    answer = _counter(client, counter_key, token, samples[photo])
    assert answer.get_json() == {"result": "invalid", "reason": reason}


def test_the_token_reasons_come_before_the_face(
    app: Any, client: Any, login: Any, counter_key: str, photos: dict[str, bytes]
) -> None:
    light = enrolled(app, login)
    token = fetch_token(client, light.access_token)
    answer = _counter(client, counter_key, token, photos["biden"], required_level="upgraded")
    assert answer.get_json() == {"result": "invalid", "reason": "level_too_low"}


def test_a_merchant_without_the_face_capability_cannot_send_a_face(
    app: Any, client: Any, holder: Citizen, photos: dict[str, bytes]
) -> None:
    plain_key = merchant_key(app, name="Hotel")
    token = fetch_token(client, holder.access_token)
    refused = _counter(client, plain_key, token, photos["obama2"])
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "capability_not_granted"
    # The token was not used up by the refusal.
    assert verify(client, plain_key, token)[1]["result"] == "valid"


def test_the_admin_api_grants_and_withdraws_the_face_capability(
    app: Any, client: Any, holder: Citizen, photos: dict[str, bytes]
) -> None:
    admin = {"Authorization": "Bearer test-admin-key-" + "x" * 32}
    created = client.post(
        "/admin/api/merchants", json={"name": "District hall", "category": "government"},
        headers=admin,
    ).get_json()  # fmt: skip
    public_id, key = created["merchant"]["public_id"], created["api_key"]
    assert created["merchant"]["capabilities"] == []
    path = f"/admin/api/merchants/{public_id}/capabilities"

    unknown = client.put(path, json={"capabilities": ["fingerprint"]}, headers=admin)
    assert unknown.status_code == 400
    granted = client.put(path, json={"capabilities": ["face"]}, headers=admin)
    assert granted.status_code == 200 and granted.get_json()["merchant"]["capabilities"] == ["face"]
    token = fetch_token(client, holder.access_token)
    assert _counter(client, key, token, photos["obama2"]).get_json()["face"] == "match"

    withdrawn = client.put(path, json={"capabilities": []}, headers=admin)
    assert withdrawn.get_json()["merchant"]["capabilities"] == []
    token = fetch_token(client, holder.access_token)
    refused = _counter(client, key, token, photos["obama2"])
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (
        403,
        "capability_not_granted",
    )
    missing = client.put(
        "/admin/api/merchants/m_nobody/capabilities", json={"capabilities": []}, headers=admin
    )
    assert missing.status_code == 404
    assert client.put(path, json={"capabilities": ["face"]}).status_code == 401
