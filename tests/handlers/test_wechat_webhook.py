"""``/wechat/callback``: signatures, replay, safe parsing, size limit and event handling."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import bot.wechat.webhook as webhook
from bot.extensions import database
from bot.wechat.config import DEV_APP_ID, DEV_TOKEN
from bot.wechat.emulator import WebhookSender, event_xml
from storage.models.card_event import CardEvent
from tests.bot.wechat.crypto_vectors import (
    AES_KEY,
    APP_ID,
    ENCRYPT,
    ENTITY_BOMB,
    MSG_SIGNATURE,
    NONCE,
    TIMESTAMP,
    TOKEN,
    URL_SIGNATURE,
)

SAMPLE_BODY = (
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName>"
    f"<Encrypt><![CDATA[{ENCRYPT}]]></Encrypt></xml>"
)
SAMPLE_ACCOUNT = {
    "wechat_app_id": APP_ID,
    "wechat_token": TOKEN,
    "wechat_encoding_aes_key": AES_KEY,
}
SAMPLE_QUERY = {
    "signature": URL_SIGNATURE,
    "timestamp": TIMESTAMP,
    "nonce": NONCE,
    "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
    "encrypt_type": "aes",
    "msg_signature": MSG_SIGNATURE,
}


@pytest.fixture
def sample_client(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An app configured with WeChat's sample account, its clock frozen in 2014."""
    monkeypatch.setattr(webhook, "clock", lambda: int(TIMESTAMP) + 3.0)
    return make_app(**SAMPLE_ACCOUNT).test_client()


@pytest.fixture
def plain_client(make_app: Any) -> Any:
    """An app of an account that configured no AES key: plain mode is all it can receive."""
    return make_app(wechat_app_id=DEV_APP_ID, wechat_token=DEV_TOKEN).test_client()


def _post(client: Any, query: dict[str, str], body: bytes | str) -> Any:
    return client.post("/wechat/callback", query_string=query, data=body, content_type="text/xml")


def _card_events(app: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(CardEvent)) or 0)


def test_get_plain_verification_echoes(sample_client: Any) -> None:
    query = {"signature": URL_SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, "echostr": "e1"}
    response = sample_client.get("/wechat/callback", query_string=query)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "e1"


def test_get_with_bad_signature_is_403(sample_client: Any) -> None:
    query = {"signature": "0" * 40, "timestamp": TIMESTAMP, "nonce": NONCE, "echostr": "e1"}
    response = sample_client.get("/wechat/callback", query_string=query)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "invalid_signature"


def test_get_encrypted_verification_decrypts_echostr(client: Any, sender: WebhookSender) -> None:
    query, body = sender.build("hello-echo")
    encrypted = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    query["echostr"] = encrypted
    query["msg_signature"] = webhook.wechat_signature(
        sender.token, query["timestamp"], query["nonce"], encrypted
    )
    response = client.get("/wechat/callback", query_string=query)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello-echo"


def test_sample_message_in_safe_mode_is_accepted_once(sample_client: Any) -> None:
    first = _post(sample_client, SAMPLE_QUERY, SAMPLE_BODY)
    assert first.status_code == 200
    assert first.get_data(as_text=True) == "success"  # "abcdteT" is not a command
    replay = _post(sample_client, SAMPLE_QUERY, SAMPLE_BODY)
    assert replay.status_code == 403
    assert replay.get_json()["error"]["code"] == "replayed_message"


def test_sample_outside_window_is_rejected(make_app: Any) -> None:
    application = make_app(**SAMPLE_ACCOUNT)  # real clock: 2014 is far outside 300 s
    response = _post(application.test_client(), SAMPLE_QUERY, SAMPLE_BODY)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "replayed_message"


@pytest.mark.parametrize("field", ["signature", "msg_signature"])
def test_tampered_signature_is_403_and_consumes_nothing(sample_client: Any, field: str) -> None:
    tampered = {**SAMPLE_QUERY, field: SAMPLE_QUERY[field][:-1] + "0"}
    response = _post(sample_client, tampered, SAMPLE_BODY)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "invalid_signature"
    # The nonce was not burnt: the genuine message still goes through.
    assert _post(sample_client, SAMPLE_QUERY, SAMPLE_BODY).status_code == 200


def test_tampered_ciphertext_is_403(sample_client: Any) -> None:
    body = SAMPLE_BODY.replace(ENCRYPT[:10], "A" * 10)
    assert _post(sample_client, SAMPLE_QUERY, body).status_code == 403


def test_entity_bomb_is_400(plain_client: Any, sender: WebhookSender) -> None:
    query, _ = sender.build("<xml/>", safe=False)
    response = _post(plain_client, query, ENTITY_BOMB)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_xml"


def test_entity_bomb_inside_encryption_is_400(client: Any, sender: WebhookSender) -> None:
    query, body = sender.build(ENTITY_BOMB)
    assert _post(client, query, body).status_code == 400


def test_oversized_body_is_413(client: Any, sender: WebhookSender) -> None:
    xml = event_xml(DEV_APP_ID, "o-user", "text", Content="x" * 70_000)
    query, body = sender.build(xml, safe=False)
    response = _post(client, query, body)
    assert response.status_code == 413


def test_subscribe_gets_sealed_welcome_with_mini_program_link(
    client: Any,
    sender: WebhookSender,
) -> None:
    query, body = sender.build(event_xml(DEV_APP_ID, "o-new-follower", Event="subscribe"))
    response = _post(client, query, body)
    assert response.status_code == 200
    envelope = webhook.parse_xml(response.data)
    assert envelope["MsgSignature"] == webhook.wechat_signature(
        sender.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    from wechatpy.crypto import PrpCrypto

    reply = webhook.parse_xml(
        PrpCrypto(webhook.aes_key_from(sender.encoding_aes_key)).decrypt(
            envelope["Encrypt"], DEV_APP_ID
        )
    )
    assert reply["ToUserName"] == "o-new-follower"
    assert "data-miniprogram-path" in reply["Content"]


@pytest.mark.parametrize("command", ["网证", "網證", "help", " HELP "])
def test_help_commands_in_plain_mode(
    plain_client: Any,
    sender: WebhookSender,
    command: str,
) -> None:
    query, body = sender.build(event_xml(DEV_APP_ID, "o-user", "text", Content=command), safe=False)
    response = _post(plain_client, query, body)
    assert response.status_code == 200
    reply = webhook.parse_xml(response.data)
    assert reply["MsgType"] == "text"
    assert "网证使用说明" in reply["Content"]


def test_other_messages_get_success(client: Any, sender: WebhookSender) -> None:
    for xml in (
        event_xml(DEV_APP_ID, "o-user", Event="unsubscribe"),
        event_xml(DEV_APP_ID, "o-user", "text", Content="hello"),
        event_xml(DEV_APP_ID, "o-user", "image", PicUrl="https://example.invalid/x.jpg"),
    ):
        query, body = sender.build(xml)
        assert _post(client, query, body).get_data(as_text=True) == "success"


def test_card_events_are_recorded_once(db: Any, client: Any, sender: WebhookSender) -> None:
    code = "a" * 32
    for event in ("user_get_card", "user_view_card", "update_member_card", "user_del_card"):
        xml = event_xml(DEV_APP_ID, "o-user", Event=event, CardId="pcard", UserCardCode=code)
        query, body = sender.build(xml)
        assert _post(client, query, body).get_data(as_text=True) == "success"
        query, body = sender.build(xml)  # WeChat redelivers the same event with a new nonce
        assert _post(client, query, body).status_code == 200
    with db.transaction() as session:
        rows = session.scalars(select(CardEvent).order_by(CardEvent.id)).all()
        assert [row.event for row in rows] == [
            "user_get_card",
            "user_view_card",
            "update_member_card",
            "user_del_card",
        ]
        assert {row.user_card_code for row in rows} == {code}


def test_bad_signature_records_no_card_event(app: Any, client: Any, sender: WebhookSender) -> None:
    xml = event_xml(DEV_APP_ID, "o-user", Event="user_get_card", CardId="p", UserCardCode="c")
    query, body = sender.build(xml)
    query["msg_signature"] = "f" * 40
    assert _post(client, query, body).status_code == 403
    assert _card_events(app) == 0


def test_sender_posts_over_http_like_wechat(app: Any, sender: WebhookSender) -> None:
    from bot.wechat.emulator import serve

    served = serve(app)  # our app on a loopback port, as WeChat's servers would reach it
    try:
        url = served.base_url + "/wechat/callback"
        response = sender.post(url, event_xml(DEV_APP_ID, "o-http", Event="subscribe"))
        assert response.status_code == 200
        assert "<Encrypt>" in response.text
        plain = sender.post(url, event_xml(DEV_APP_ID, "o-http", "text", Content="hi"), safe=False)
        assert plain.status_code == 403  # an AES key is configured: safe mode only
    finally:
        served.stop()


@pytest.mark.parametrize("encrypt_type", ["", "raw", "none", "AES-no"])
def test_plain_mode_is_refused_when_an_aes_key_is_configured(
    app: Any,
    client: Any,
    sender: WebhookSender,
    encrypt_type: str,
) -> None:
    """A correctly signed plain message cannot pick plain mode: its signature omits the body."""
    xml = event_xml(DEV_APP_ID, "o-user", Event="user_get_card", CardId="p", UserCardCode="c" * 32)
    query, body = sender.build(xml, safe=False)
    if encrypt_type:
        query["encrypt_type"] = encrypt_type
    response = _post(client, query, body)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "safe_mode_required"
    assert _card_events(app) == 0
    # The same message, encrypted, goes through with the same timestamp and nonce (none burnt).
    safe_query, safe_body = sender.build(xml, timestamp=query["timestamp"], nonce=query["nonce"])
    assert _post(client, safe_query, safe_body).get_data(as_text=True) == "success"
    assert _card_events(app) == 1


def test_help_command_in_plain_mode_gets_no_reply_under_an_aes_key(
    client: Any,
    sender: WebhookSender,
) -> None:
    query, body = sender.build(event_xml(DEV_APP_ID, "o-user", "text", Content="help"), safe=False)
    response = _post(client, query, body)
    assert response.status_code == 403
    assert "网证使用说明" not in response.get_data(as_text=True)
