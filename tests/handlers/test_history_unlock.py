"""The history of the biometric unlock (WeChat SOTER), end to end over HTTP against the emulator:
switched on, a verified unlock, a verification under it, switched off; each a line with the
method and the phone model the citizen signed in with."""

from __future__ import annotations

from typing import Any

from bot.wechat.emulator.server import Emulator
from tests.handlers.citizen_steps import (
    enrol_light,
    history_page,
    post_unlock,
    sign_in,
    soter_signed,
    switch_unlock,
    unlock_challenge,
)
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.kit.device import TestDevice
from tests.registry_factories import add_record


def test_unlock_switches_and_unlocks_are_in_the_history(
    wechat_app: Any, wechat_client: Any, emulator: Emulator
) -> None:
    phone = TestDevice("hist-phone-soter", model="Mate 60 Pro")
    token = sign_in(wechat_client, "dev:mia", phone)
    openid = emulator.openid_for("mia")
    enrol_light(wechat_app, openid, phone.device_id, add_record(wechat_app))
    assert switch_unlock(wechat_client, token, "fingerprint").status_code == 200
    unlocked = post_unlock(
        wechat_client, token, soter_signed(emulator, unlock_challenge(wechat_client, token), openid)
    )
    assert unlocked.status_code == 200, unlocked.get_json()
    key = merchant_key(wechat_app, name="City Library", scopes=["result"])
    assert verify(wechat_client, key, fetch_token(wechat_client, token))[1]["result"] == "valid"
    assert switch_unlock(wechat_client, token, "off").status_code == 200

    lines = [
        (line["kind"], line["device_model"], line.get("method"))
        for line in history_page(wechat_client, token)["entries"]
    ]
    assert lines == [
        ("unlock_disabled", "Mate 60 Pro", "fingerprint"),
        ("verification", "Mate 60 Pro", None),
        ("unlock_verified", "Mate 60 Pro", "fingerprint"),
        ("unlock_enabled", "Mate 60 Pro", "fingerprint"),
        ("credential_issued", "Mate 60 Pro", None),
    ]
