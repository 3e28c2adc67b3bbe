"""Another account enrolling a person who already holds a credential, end to end over HTTP.

Logins go through the WeChat emulator (real HTTP), enrolments use real photos and the real
model pack, messages are read from what the emulator received, and presentation tokens are
checked at ``/api/v1/verify`` by a merchant.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bot.wechat.config import DEV_TEMPLATES
from bot.wechat.emulator.server import Emulator
from storage.models.credential import Credential
from storage.models.credential_takeover import CredentialTakeover
from storage.models.registry_record import RegistryRecord
from tests.bot.face.imaging import FACE_ROOT
from tests.handlers.enrol_steps import OBAMA_ID, answer_challenge, bearer
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.kit.device import TestDevice
from tests.wechat_support import (  # noqa: F401 - fixtures
    emulator,
    running_emulator,
    wechat_app,
    wechat_app_config,
    wechat_client,
)

pytestmark = pytest.mark.face

HOLDER_PHONE = {"device_id": "holder-phone-1", "model": "HUAWEI Mate 60"}
INTRUDER_PHONE = {"device_id": "intruder-phone-1", "model": "Xiaomi 14 Pro"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack and one head turn (the sample photos answer one)."""
    return {**app_config, "face_model_root": FACE_ROOT, "face_liveness_steps": 1}


class _Tokens:
    def __init__(self, access_token: str) -> None:
        self.access_token = access_token


_PHONES: dict[str, TestDevice] = {}  # one install (key pair) per device id


def _login(client: Any, user: str, device: dict[str, str]) -> _Tokens:
    phone = _PHONES.setdefault(device["device_id"], TestDevice(device["device_id"]))
    body = {**phone.login_body(client, f"dev:{user}"), "device": device}
    response = client.post("/api/v1/mp/login", json=body)
    assert response.status_code == 200, response.get_json()
    return _Tokens(response.get_json()["access_token"])


def _takeover_messages(emulator: Emulator, openid: str) -> list[dict[str, Any]]:  # noqa: F811
    return [
        message
        for message in emulator.messages
        if message["touser"] == openid
        and message["template_id"] == DEV_TEMPLATES["credential_taken_over"]
    ]


def test_takeover_is_told_to_the_holder_and_not_me_revokes_the_intruder(
    wechat_app: Any,  # noqa: F811
    wechat_client: Any,  # noqa: F811
    emulator: Emulator,  # noqa: F811
    registry: None,
    turn_frames: dict[int, bytes],
    runner: Any,
) -> None:
    client = wechat_client
    holder = _login(client, "holder", HOLDER_PHONE)
    assert answer_challenge(client, holder, turn_frames).status_code == 201
    holder_openid = emulator.openid_for("holder")
    assert _takeover_messages(emulator, holder_openid) == []

    # Someone else, with the person's photos, name and ID number, on their own account.
    intruder = _login(client, "intruder", INTRUDER_PHONE)
    before = dt.datetime.now(dt.UTC)
    taken = answer_challenge(client, intruder, turn_frames)
    assert taken.status_code == 201, taken.get_json()
    merchant = merchant_key(wechat_app)
    intruder_token = fetch_token(client, intruder.access_token)

    # The holder is told at once: what, when, on which device model, and a link to undo it.
    (message,) = _takeover_messages(emulator, holder_openid)
    data = {key: value["value"] for key, value in message["data"].items()}
    assert data["thing1"] == "网证已被其他微信账号领取"
    when = dt.datetime.strptime(data["time2"], "%Y-%m-%d %H:%M").replace(
        tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    assert before - dt.timedelta(minutes=1) <= when <= dt.datetime.now(dt.UTC)
    assert data["thing3"] == INTRUDER_PHONE["model"]
    link = urlsplit(message["page"])
    assert link.path == "pages/dispute/index"
    (takeover_id,) = parse_qs(link.query)["takeover"]

    held = client.get("/api/v1/credentials/current", headers=bearer(holder)).get_json()
    assert (held["status"], held["reason"]) == ("superseded", "reissued_to_other_account")
    listed = client.get("/api/v1/me/takeovers", headers=bearer(holder)).get_json()["takeovers"]
    assert [(t["takeover_id"], t["device_model"], t["disputed_at"]) for t in listed] == [
        (takeover_id, INTRUDER_PHONE["model"], None)
    ]

    # (The daily limit, the block and its lifting are driven with injected time in
    # tests/bot/identity/test_takeover.py: a third HTTP answer would need more distinct real
    # head-turn frames than the sample set has, as liveness refuses a replayed pair.)

    # The intruder cannot dispute it, nor can anyone guess another takeover id.
    for who, which in ((intruder, takeover_id), (holder, "tk_" + "A" * 22)):
        refused = client.post(
            "/api/v1/me/disputes", json={"takeover_id": which}, headers=bearer(who)
        )
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (
            404,
            "takeover_not_found",
        )
    assert verify(client, merchant, intruder_token)[1]["result"] == "valid"
    intruder_token = fetch_token(client, intruder.access_token)

    # "Not me": the intruder's credential is revoked at once, its tokens fail.
    disputed = client.post(
        "/api/v1/me/disputes", json={"takeover_id": takeover_id}, headers=bearer(holder)
    )
    assert disputed.status_code == 201, disputed.get_json()
    assert disputed.get_json()["revoked"] == 1
    status, body = verify(client, merchant, intruder_token)
    assert (status, body["result"], body["reason"]) == (200, "invalid", "revoked"), body
    refused = client.post("/api/v1/credentials/current/presentations", headers=bearer(intruder))
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (404, "no_credential")
    again = client.post(
        "/api/v1/me/disputes", json={"takeover_id": takeover_id}, headers=bearer(holder)
    )
    assert again.status_code == 201 and again.get_json()["revoked"] == 0

    # The authority lifts the block the dispute set.
    cleared = runner.invoke(args=["registry", "clear-dispute", OBAMA_ID])
    assert cleared.exit_code == 0, cleared.output
    assert "cleared" in cleared.output and OBAMA_ID not in cleared.output

    with wechat_app.extensions["wangzheng.db"].transaction() as session:
        reasons = [
            (row.openid == holder_openid, row.status, row.reason)
            for row in session.scalars(select(Credential).order_by(Credential.issued_at))
        ]
        takeover = session.get(CredentialTakeover, takeover_id)
        assert takeover is not None and takeover.disputed_at is not None
        record = session.scalars(select(RegistryRecord)).first()
        assert record is not None and record.light_enrolment_blocked_at is None
    assert reasons == [
        (True, "superseded", "reissued_to_other_account"),
        (False, "revoked", "disputed"),
    ]


def test_clear_dispute_of_an_unknown_or_unblocked_person(runner: Any, registry: None) -> None:
    unknown = runner.invoke(args=["registry", "clear-dispute", "11010119900307123X"])
    assert unknown.exit_code != 0
    invalid = runner.invoke(args=["registry", "clear-dispute", "not-an-id"])
    assert invalid.exit_code != 0
    not_blocked = runner.invoke(args=["registry", "clear-dispute", OBAMA_ID])
    assert not_blocked.exit_code == 0 and "not blocked" in not_blocked.output
