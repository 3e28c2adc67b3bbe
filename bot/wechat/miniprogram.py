"""Mini-program login (``jscode2session`` → our device-bound session) and ``encryptedData``.

Invariants:
- ``jscode2session`` is called before the database transaction opens (no transaction waits on
  WeChat), and directly: it needs no access token, unlike wechatpy's ``code_to_session``.
- WeChat's ``session_key`` is neither stored nor returned nor logged: nothing needs it.
- The device rules (a login on a new device revokes the old device's sessions and credential)
  are the domain's, :func:`bot.devices.rules.sign_in`; this module only talks to WeChat. The
  card and the ``credential_removed`` message follow from the domain events
  (:mod:`bot.wechat.subscribers`).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from wechatpy.crypto import WeChatWxaCrypto

from bot.devices.keys import Clock, DeviceProof
from bot.devices.rules import sign_in
from bot.devices.sessions import SessionTokens
from bot.wechat.client import WeChatApi
from bot.wechat.errors import DecryptFailed
from storage.db import Database
from storage.ephemeral import EphemeralStore


def login(
    database: Database,
    store: EphemeralStore,
    api: WeChatApi,
    *,
    code: str,
    device_id: str,
    proof: DeviceProof,
    device_model: str | None = None,
    clock: Clock = time.time,
) -> SessionTokens:
    """Exchange ``code`` with WeChat, then sign in on ``device_id`` (proved by ``proof``) in
    one transaction."""
    wechat = api.code_to_session(code)
    with database.transaction() as session:
        return sign_in(
            session,
            store,
            openid=wechat.openid,
            unionid=wechat.unionid,
            device_id=device_id,
            proof=proof,
            device_model=device_model,
            clock=clock,
        )


def decrypt_user_data(
    session_key: str, iv: str, encrypted_data: str, app_id: str
) -> dict[str, Any]:
    """Decrypt mini-program ``encryptedData`` and check its watermark appid."""
    try:
        if len(base64.b64decode(session_key)) != 16 or len(base64.b64decode(iv)) != 16:
            raise DecryptFailed()
        data: Any = WeChatWxaCrypto(session_key, iv, app_id).decrypt_message(encrypted_data)
    except DecryptFailed:
        raise
    except (binascii.Error, Exception) as exc:  # any failure is "cannot decrypt" (re-raised)
        raise DecryptFailed() from exc
    if not isinstance(data, dict):
        raise DecryptFailed()
    return data
