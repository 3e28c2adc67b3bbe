"""Device rules: what signing in on a phone means for the citizen's other phone and credential.

Invariants (all in the caller's transaction, so they hold together or not at all):
- A citizen has one current device. Signing in on another one revokes every session of the
  previous device (:func:`bot.devices.sessions.open_session`) and records
  :class:`~bot.events.DeviceChanged`.
- The credential is bound to the device it was issued on: the previous device's active
  credential is revoked with reason ``device_changed`` (which records
  :class:`~bot.events.CredentialEnded`; the WeChat adapter tells the citizen and makes the card
  unavailable after commit). Signing in again on the same device changes nothing.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.credentials.service import revoke_for_device_change
from bot.devices.sessions import SessionTokens, open_session
from bot.events import DeviceChanged, record

log = logging.getLogger(__name__)


def sign_in(
    session: Session,
    *,
    openid: str,
    unionid: str | None,
    device_id: str,
    device_model: str | None = None,
) -> SessionTokens:
    """Open a session for ``openid`` on ``device_id`` and apply the device rules."""
    tokens = open_session(
        session, openid=openid, unionid=unionid, device_id=device_id, device_model=device_model
    )
    previous = tokens.previous_device_id
    if previous:
        record(session, DeviceChanged(tokens.citizen_id, openid, previous, device_id))
        revoked = revoke_for_device_change(session, openid, previous)
        log.info("sign-in on a new device; %d credential(s) revoked", revoked)
    return tokens
