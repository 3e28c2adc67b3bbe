"""Push events to a webhook exactly as WeChat's servers do: signed, and AES-encrypted in safe mode.

The query carries ``signature``, ``timestamp``, ``nonce`` and ``openid``; in safe mode also
``encrypt_type=aes`` and ``msg_signature`` (over the ``Encrypt`` value), and the body is WeChat's
``<xml><ToUserName/><Encrypt/></xml>`` envelope.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

import requests
from wechatpy.crypto import PrpCrypto

from bot.wechat.webhook import aes_key_from, wechat_signature


def event_xml(to_user: str, from_user: str, msg_type: str = "event", **fields: Any) -> str:
    """A callback message (``Event=...``, ``Content=...`` and so on as keyword fields)."""
    parts = [
        f"<ToUserName><![CDATA[{to_user}]]></ToUserName>",
        f"<FromUserName><![CDATA[{from_user}]]></FromUserName>",
        f"<CreateTime>{int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"


class WebhookSender:
    """Builds (and optionally POSTs) WeChat callbacks for one account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.app_id = app_id

    def build(
        self, xml: str, *, safe: bool = True, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would send for ``xml``."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {
            "signature": wechat_signature(self.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": "",
        }
        if not safe:
            return query, xml.encode()
        crypto = PrpCrypto(aes_key_from(self.encoding_aes_key))
        encrypted = crypto.encrypt(xml, self.app_id).decode()
        query["encrypt_type"] = "aes"
        query["msg_signature"] = wechat_signature(self.token, timestamp, nonce, encrypted)
        body = f"<xml><ToUserName><![CDATA[{self.app_id}]]></ToUserName>"
        body += f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        return query, body.encode()

    def post(self, url: str, xml: str, *, safe: bool = True) -> requests.Response:
        """POST ``xml`` to the webhook at ``url`` over HTTP (5-second timeout, like WeChat)."""
        query, body = self.build(xml, safe=safe)
        return requests.post(
            url, params=query, data=body, headers={"Content-Type": "text/xml"}, timeout=5
        )
