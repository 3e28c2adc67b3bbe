"""Mini-program login (``jscode2session`` → our device-bound session) and ``encryptedData``.

Invariants:
- ``jscode2session`` is called before the database transaction opens (no transaction waits on
  WeChat), and directly: it needs no access token, unlike wechatpy's ``code_to_session``.
- WeChat's ``session_key`` is stored only sealed (by :func:`bot.devices.sessions.open_session`)
  and never returned or logged.
- A login on a new device revokes the old device's sessions (``open_session``) and, in the same
  transaction, its credential: :func:`bot.credentials.service.revoke_for_device_change` plus
  every function in :data:`DEVICE_CHANGE_HOOKS`; a revoked credential queues the
  ``credential_removed`` notification, which is sent after commit.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from wechatpy.crypto import WeChatWxaCrypto

from bot.crypto import unseal_text
from bot.devices.sessions import SessionTokens, open_session
from bot.wechat.client import WeChatApi
from bot.wechat.errors import DecryptFailed
from bot.wechat.notify import enqueue_notification
from storage.db import Database
from storage.models.citizen import Citizen

log = logging.getLogger(__name__)

DeviceChangeHook = Callable[[Session, int, str], int]
# Called as hook(session, citizen_id, previous_device_id) inside the login transaction; each
# returns how many credentials it revoked. Other domains may append to it at import time.
DEVICE_CHANGE_HOOKS: list[DeviceChangeHook] = []


def _credential_revoker() -> DeviceChangeHook | None:
    """The credentials domain's revocation function, when that domain is installed."""
    try:
        from bot.credentials.service import revoke_for_device_change
    except ImportError:  # pragma: no cover - the credentials domain is part of the product
        return None
    return revoke_for_device_change


def on_device_change(session: Session, citizen_id: int, previous_device_id: str) -> int:
    """Revoke what was bound to the previous device; notify the citizen if anything was."""
    hooks = list(DEVICE_CHANGE_HOOKS)
    revoker = _credential_revoker()
    if revoker is not None and revoker not in hooks:
        hooks.insert(0, revoker)
    revoked = sum(hook(session, citizen_id, previous_device_id) for hook in hooks)
    if revoked:
        enqueue_notification(session, citizen_id, "credential_removed", {})
    return revoked


def login(
    database: Database, api: WeChatApi, *, code: str, device_id: str, data_key: bytes
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
    except (binascii.Error, Exception) as exc:  # noqa: BLE001 - any failure is "cannot decrypt"
        raise DecryptFailed() from exc
    if not isinstance(data, dict):
        raise DecryptFailed()
    return data


def decrypt_for_citizen(
    citizen: Citizen, data_key: bytes, iv: str, encrypted_data: str, app_id: str
) -> dict[str, Any]:
    """:func:`decrypt_user_data` with the citizen's stored (sealed) session key."""
    if citizen.session_key_sealed is None:
        raise DecryptFailed()
    session_key = unseal_text(data_key, citizen.session_key_sealed, "wechat.session_key")
    return decrypt_user_data(session_key, iv, encrypted_data, app_id)
