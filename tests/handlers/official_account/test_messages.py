"""Event-driven messages as official-account template messages (``NOTIFY_CHANNEL=template``).

Domain events (a credential issued, superseded...) queue a message in their transaction; after
commit the outbox sends it with the official account's token to the follower's openid there,
found by UnionID. The emulator refuses template messages to anyone who does not follow.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from bot.extensions import database
from bot.wechat.config import DEV_APP_ID, DEV_TEMPLATES, TEMPLATE_SETTINGS
from bot.wechat.emulator import WebhookSender
from bot.wechat.emulator.server import Emulator
from storage.models.outbox import OutboxMessage
from tests.handlers.official_account.support import OA_APP_ID, follow, mini_program_user, say
from tests.registry_factories import add_record, issue


@pytest.fixture
def wechat_app_config(wechat_app_config: dict[str, Any]) -> dict[str, Any]:
    """Two accounts, messages through the official account's template messages."""
    wechat_app_config.update(wechat_notify_channel="template")
    return wechat_app_config


def _message_rows(app: Any) -> list[tuple[str, str | None]]:
    with database(app).transaction() as session:
        rows = session.execute(
            select(OutboxMessage.status, OutboxMessage.last_error)
            .where(OutboxMessage.kind == "subscribe_message")
            .order_by(OutboxMessage.id)
        )
        return [(status, error) for status, error in rows]


def test_issuance_goes_to_the_followers_official_account_openid(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    openid = mini_program_user(wechat_app, emulator, "alice", credential=False)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    issue(wechat_app, add_record(wechat_app), openid=openid, device_id="device-alice")
    (message,) = emulator.official.template_messages
    assert message["app_id"] == OA_APP_ID  # sent with the official account's token
    assert message["touser"] == oa_openid != openid
    assert message["template_id"] == DEV_TEMPLATES["credential_issued"]
    assert message["miniprogram"] == {"appid": DEV_APP_ID, "pagepath": "pages/pass/index"}
    assert message["data"]["thing1"]["value"] == "网证已领取"
    assert emulator.messages == []  # no subscribe message on this channel
    assert _message_rows(wechat_app) == [("sent", None)]


def test_a_reissue_tells_the_holder_the_old_credential_is_superseded(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    openid = mini_program_user(wechat_app, emulator, "alice", credential=False)
    follow(wechat_client, oa_sender, emulator, "alice")
    subject = add_record(wechat_app)
    issue(wechat_app, subject, openid=openid, device_id="device-alice")
    issue(wechat_app, subject, openid=openid, device_id="device-alice")
    templates = [message["template_id"] for message in emulator.official.template_messages]
    assert templates == [
        DEV_TEMPLATES["credential_issued"],
        DEV_TEMPLATES["credential_superseded"],
        DEV_TEMPLATES["credential_issued"],
    ]


def test_a_citizen_who_does_not_follow_gets_nothing(wechat_app: Any, emulator: Emulator) -> None:
    openid = mini_program_user(wechat_app, emulator, "bob", credential=False)
    issue(wechat_app, add_record(wechat_app), openid=openid, device_id="device-bob")
    assert emulator.official.template_messages == []
    assert _message_rows(wechat_app) == [
        ("dropped", "the citizen does not follow the official account")
    ]


def test_an_unfollowed_citizen_gets_nothing(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, oa_sender: WebhookSender
) -> None:
    openid = mini_program_user(wechat_app, emulator, "alice", credential=False)
    oa_openid = follow(wechat_client, oa_sender, emulator, "alice")
    emulator.official.unfollow(OA_APP_ID, oa_openid)
    assert say(wechat_client, oa_sender, oa_openid, "event", Event="unsubscribe") == ""
    issue(wechat_app, add_record(wechat_app), openid=openid, device_id="device-alice")
    assert emulator.official.template_messages == []
    assert [status for status, _ in _message_rows(wechat_app)] == ["dropped"]


def test_a_missing_template_id_is_logged_once_at_start(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.wechat.app")
    make_app(
        wechat_app_id="wx1234567890abcdef",
        wechat_app_secret="a-real-looking-secret-0000000000",
        wechat_token="token",
        wechat_tpl_credential_issued="tpl-issued",
    )
    lines = [record.getMessage() for record in caplog.records if "is not sent" in record.message]
    unset = [kind for kind in TEMPLATE_SETTINGS if kind != "credential_issued"]
    assert len(lines) == len(unset) >= 5  # one line per kind without a template id
    for kind in unset:
        assert sum(line.startswith(f"wechat message {kind} ") for line in lines) == 1
    assert not any("credential_issued" in line for line in lines)
