"""WeChat's own published vectors (WXBizMsgCrypt, mini-program encryptedData) and safe parsing."""

from __future__ import annotations

import hashlib

import pytest
from wechatpy.crypto import PrpCrypto

from bot.wechat.errors import DecryptFailed, InvalidSignature, MalformedXml
from bot.wechat.miniprogram import decrypt_user_data
from bot.wechat.webhook import aes_key_from, parse_xml, verify_signature, wechat_signature
from tests.bot.wechat import crypto_vectors as vectors


def test_url_signature_matches_sample() -> None:
    assert (
        wechat_signature(vectors.TOKEN, vectors.TIMESTAMP, vectors.NONCE) == vectors.URL_SIGNATURE
    )
    verify_signature((vectors.TOKEN, vectors.TIMESTAMP, vectors.NONCE), vectors.URL_SIGNATURE)


def test_msg_signature_matches_sample() -> None:
    assert (
        wechat_signature(vectors.TOKEN, vectors.TIMESTAMP, vectors.NONCE, vectors.ENCRYPT)
        == vectors.MSG_SIGNATURE
    )


def test_sample_decrypts_to_text_message() -> None:
    plain = PrpCrypto(aes_key_from(vectors.AES_KEY)).decrypt(vectors.ENCRYPT, vectors.APP_ID)
    message = parse_xml(plain)
    assert message["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert message["MsgType"] == "text"
    assert message["Content"] == "abcdteT"


@pytest.mark.parametrize(
    "given", ["", "0" * 40, vectors.URL_SIGNATURE[:-1] + "b", vectors.URL_SIGNATURE + "0"]
)
def test_wrong_signature_is_refused(given: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature((vectors.TOKEN, vectors.TIMESTAMP, vectors.NONCE), given)


@pytest.mark.parametrize(
    "body",
    [
        vectors.ENTITY_BOMB,
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
    data = decrypt_user_data(
        vectors.WXA_SESSION_KEY, vectors.WXA_IV, vectors.WXA_ENCRYPTED, vectors.WXA_APP_ID
    )
    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["watermark"]["appid"] == vectors.WXA_APP_ID


@pytest.mark.parametrize(
    ("session_key", "iv", "app_id"),
    [
        (vectors.WXA_SESSION_KEY, vectors.WXA_IV, "wx0000000000000000"),  # watermark of another app
        ("AAAAAAAAAAAAAAAAAAAAAA==", vectors.WXA_IV, vectors.WXA_APP_ID),  # wrong key
        (vectors.WXA_SESSION_KEY, "not base64!", vectors.WXA_APP_ID),
    ],
)
def test_encrypted_data_failures_are_decrypt_failed(session_key: str, iv: str, app_id: str) -> None:
    with pytest.raises(DecryptFailed):
        decrypt_user_data(session_key, iv, vectors.WXA_ENCRYPTED, app_id)


def test_signature_is_sha1_of_sorted_parts() -> None:
    parts = ("b", "a", "c")
    assert wechat_signature(*parts) == hashlib.sha1(b"abc").hexdigest()
