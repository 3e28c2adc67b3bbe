"""Control characters (NUL above all) are refused at the edge with 400, never a driver's 500.

PostgreSQL cannot store or even compare text holding NUL, so each of these answered 500 there:
a JWT ``kid``, an admin ``public_id`` and a webhook nonce. These tests run on every configured
backend (they use the ``app`` fixture, so they are ``storage`` tests: PostgreSQL on CI).
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from bot.extensions import settings
from bot.wechat.config import DEV_APP_ID
from bot.wechat.emulator import WebhookSender, event_xml
from handlers.edge import InvalidCharacters, check_form_fields
from storage.models.card_event import CardEvent
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, split, verify
from tests.wechat_support import sender  # noqa: F401 - fixture

CONTROL = ["\x00", "\x01", "\x1b", "\x7f", "\n"]


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


@pytest.mark.parametrize("bad", CONTROL, ids=repr)
def test_kid_with_a_control_character_is_malformed(
    app: Any, client: Any, login: Any, bad: str
) -> None:
    citizen = enrolled(app, login)
    key = merchant_key(app)
    genuine = fetch_token(client, citizen.access_token)
    header, claims, _ = split(genuine)
    forged = jwt.encode(
        claims,
        ec.generate_private_key(ec.SECP256R1()),
        "ES256",
        headers={"kid": header["kid"] + bad},
    )
    assert verify(client, key, forged) == (200, {"result": "invalid", "reason": "malformed"})
    assert verify(client, key, genuine)[1]["result"] == "valid"  # nothing was consumed


@pytest.mark.parametrize("bad", ["%00", "%01", "%7F", "%0A"])
@pytest.mark.parametrize("suffix", ["", "/rotate-key", "/disable"])
def test_admin_public_id_with_a_control_character_is_400(
    app: Any, client: Any, bad: str, suffix: str
) -> None:
    headers = {"Authorization": f"Bearer {settings(app).admin_key}"}
    path = f"/admin/api/merchants/m{bad}x{suffix}"
    response = client.open(path, method="POST" if suffix else "GET", headers=headers)
    assert _code(response) == (400, "invalid_characters")


def test_webhook_nonce_with_nul_is_400_and_records_nothing(
    db: Any,
    client: Any,
    sender: WebhookSender,  # noqa: F811
) -> None:
    xml = event_xml(DEV_APP_ID, "o-user", Event="user_get_card", CardId="p", UserCardCode="c")
    query, body = sender.build(xml, nonce="12\x0034")  # correctly signed over the NUL
    response = client.post(
        "/wechat/callback", query_string=query, data=body, content_type="text/xml"
    )
    assert _code(response) == (400, "invalid_characters")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CardEvent)) == 0


@pytest.mark.parametrize("bad", ["\u0000", "\u0008", "\u001b", "\u007f"])
def test_json_strings_with_control_characters_are_400(client: Any, bad: str) -> None:
    device = {"device_id": "device-0001", "model": f"iPhone{bad}15"}
    response = client.post("/api/v1/mp/login", json={"code": "c", "device": device})
    assert _code(response) == (400, "invalid_characters")
    key_name = client.post("/api/v1/mp/refresh", json={f"refresh{bad}": "x" * 20})
    assert _code(key_name) == (400, "invalid_characters")  # keys are checked too


def test_escaped_backslash_is_not_a_control_character(client: Any) -> None:
    """``"\\\\u0000"`` is a backslash then ``u0000``: text, refused (if at all) by validation."""
    response = client.post("/api/v1/mp/refresh", json={"refresh_token": "\\u0000" + "x" * 20})
    assert response.status_code == 401  # an unknown token, not invalid_characters


def test_verify_answers_401_before_looking_at_the_body(client: Any) -> None:
    """The verify endpoint peeks at the token to prefetch its handle; that must not turn an
    unauthenticated call with a bad body into a 400 about the body."""
    response = client.post(
        "/api/v1/verify",
        json={"token": "a\u0000.b.c"},
        headers={"Authorization": "Bearer wzm_not-a-key"},
    )
    assert _code(response) == (401, "merchant_key_invalid")


def test_query_string_with_nul_is_400(client: Any) -> None:
    response = client.get("/api/v1/me/verifications", query_string={"limit": "1\x00"})
    assert _code(response) == (400, "invalid_characters")


def test_a_form_field_without_a_value_is_not_a_server_error() -> None:
    """Schemathesis sent a multipart field with no value; the check must not raise TypeError."""
    check_form_fields(MultiDict([("name", None), ("id_number", "110101")]))
    with pytest.raises(InvalidCharacters):
        check_form_fields(MultiDict([("name", None), ("note", "a\x00b")]))
