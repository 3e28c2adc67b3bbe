"""Mini-program login (``jscode2session`` → our device-bound session) and ``encryptedData``.

Invariants:
- ``jscode2session`` is called before the database transaction opens (no transaction waits on
  WeChat), and directly: it needs no access token, unlike wechatpy's ``code_to_session``.
- WeChat's ``session_key`` is stored only sealed (by :func:`bot.devices.sessions.open_session`)
  and never returned or logged.
- A login on a new device revokes the old device's sessions (``open_session``) and, in the same
  transaction, its credential (:func:`bot.credentials.service.revoke_for_device_change`, which
  also makes its card-pack code unavailable); a revoked credential queues the
  ``credential_removed`` notification, which is sent after commit.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from sqlalchemy.orm import Session
from wechatpy.crypto import WeChatWxaCrypto

from bot.credentials.service import revoke_for_device_change
from bot.crypto import Keys
from bot.devices.sessions import SessionTokens, open_session
from bot.wechat.client import WeChatApi
from bot.wechat.errors import DecryptFailed
from bot.wechat.notify import enqueue_notification
from storage.db import Database

log = logging.getLogger(__name__)


def on_device_change(session: Session, citizen_id: int, previous_device_id: str) -> int:
    """Revoke the credential bound to the previous device; notify the citizen if one was."""
    revoked = revoke_for_device_change(session, citizen_id, previous_device_id)
    if revoked:
        enqueue_notification(session, citizen_id, "credential_removed", {})
    return revoked


def login(
    database: Database,
    api: WeChatApi,
    *,
    code: str,
    device_id: str,
    data_key: Keys,
    device_model: str | None = None,
) -> SessionTokens:
    """Exchange ``code`` with WeChat, then open a session on ``device_id`` in one transaction."""
    wechat = api.code_to_session(code)
    with database.transaction() as session:
        tokens = open_session(
            session,
            openid=wechat.openid,
            unionid=wechat.unionid,
            session_key=wechat.session_key,
            device_id=device_id,
            data_key=data_key,
            device_model=device_model,
        )
        if tokens.previous_device_id:
            revoked = on_device_change(session, tokens.citizen_id, tokens.previous_device_id)
            log.info("login on a new device; %d credential(s) revoked", revoked)
    return tokens


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
