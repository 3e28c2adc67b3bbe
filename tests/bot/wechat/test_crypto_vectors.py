"""WeChat's own published vectors (WXBizMsgCrypt, mini-program encryptedData) and safe parsing."""

from __future__ import annotations

import hashlib

import pytest
from wechatpy.crypto import PrpCrypto

from bot.wechat.errors import DecryptFailed, InvalidSignature, MalformedXml
from bot.wechat.miniprogram import decrypt_user_data
from bot.wechat.webhook import aes_key_from, parse_xml, verify_signature, wechat_signature
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
    WXA_APP_ID,
    WXA_ENCRYPTED,
    WXA_IV,
    WXA_SESSION_KEY,
)


def test_url_signature_matches_sample() -> None:
    assert wechat_signature(TOKEN, TIMESTAMP, NONCE) == URL_SIGNATURE
    verify_signature((TOKEN, TIMESTAMP, NONCE), URL_SIGNATURE)


def test_msg_signature_matches_sample() -> None:
    assert wechat_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT) == MSG_SIGNATURE


def test_sample_decrypts_to_text_message() -> None:
    plain = PrpCrypto(aes_key_from(AES_KEY)).decrypt(ENCRYPT, APP_ID)
    message = parse_xml(plain)
    assert message["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert message["MsgType"] == "text"
    assert message["Content"] == "abcdteT"


@pytest.mark.parametrize("given", ["", "0" * 40, URL_SIGNATURE[:-1] + "b", URL_SIGNATURE + "0"])
def test_wrong_signature_is_refused(given: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature((TOKEN, TIMESTAMP, NONCE), given)


@pytest.mark.parametrize(
    "body",
    [
        ENTITY_BOMB,
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>',
        "<xml><unclosed></xml>",
        "<notxml/>",
        "",
    ],
)
def test_unsafe_or_malformed_xml_is_refused(body: str) -> None:
    with pytest.raises(MalformedXml):
        parse_xml(body)


def test_miniprogram_encrypted_data_sample() -> None:
    data = decrypt_user_data(WXA_SESSION_KEY, WXA_IV, WXA_ENCRYPTED, WXA_APP_ID)
    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["watermark"]["appid"] == WXA_APP_ID


@pytest.mark.parametrize(
    ("session_key", "iv", "app_id"),
    [
        (WXA_SESSION_KEY, WXA_IV, "wx0000000000000000"),  # watermark of another app
        ("AAAAAAAAAAAAAAAAAAAAAA==", WXA_IV, WXA_APP_ID),  # wrong key
        (WXA_SESSION_KEY, "not base64!", WXA_APP_ID),
    ],
)
def test_encrypted_data_failures_are_decrypt_failed(session_key: str, iv: str, app_id: str) -> None:
    with pytest.raises(DecryptFailed):
        decrypt_user_data(session_key, iv, WXA_ENCRYPTED, app_id)


def test_signature_is_sha1_of_sorted_parts() -> None:
    parts = ("b", "a", "c")
    assert wechat_signature(*parts) == hashlib.sha1(b"abc").hexdigest()
