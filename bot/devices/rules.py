"""Device rules: what signing in on a phone means for the citizen's other phone and credential.

Invariants (all in the caller's transaction, so they hold together or not at all):
- Every sign-in proves the device: a signature by the device's key over a single-use nonce
  (:mod:`bot.devices.keys`); the first sign-in of a device id registers its key.
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
import time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.credentials.service import revoke_for_device_change
from bot.devices.errors import SignInConflict
from bot.devices.keys import Clock, DeviceProof, bind_key, check_proof, consume_login_nonce
from bot.devices.sessions import SessionTokens, ensure_citizen, open_session
from bot.events import DeviceChanged, record
from storage.ephemeral import EphemeralStore

log = logging.getLogger(__name__)


def sign_in(
    session: Session,
    store: EphemeralStore,
    *,
    openid: str,
    unionid: str | None,
    device_id: str,
    proof: DeviceProof,
    device_model: str | None = None,
    clock: Clock = time.time,
) -> SessionTokens:
    """Check the device's proof, open a session for ``openid`` on ``device_id`` and apply the
    device rules. The proof (:mod:`bot.devices.keys`) comes first: a refused one writes nothing.
    """
    # The nonce first, before this transaction writes: the short-lived store may be the same
    # SQLite file, and a single-use mark must not wait on our own write lock.
    consume_login_nonce(store, proof.nonce, clock)
    try:
        citizen = ensure_citizen(session, openid, unionid)
        previous_model = citizen.current_device_model
        known, public_key = check_proof(session, citizen.id, device_id, proof)
        key = bind_key(session, citizen.id, device_id, public_key, known)
        tokens = open_session(
            session,
            openid=openid,
            unionid=unionid,
            device_id=device_id,
            device_model=device_model,
            device_key_id=key.id,
        )
    except IntegrityError:
        # Two first sign-ins of one new account, or of one new device, at the same moment: the
        # unique indexes let one through; this one writes nothing.
        raise SignInConflict() from None
    previous = tokens.previous_device_id
    if previous:
        record(
            session,
            DeviceChanged(
                tokens.citizen_id, openid, previous, device_id,
                device_model=(device_model or "")[:64] or None,
                previous_device_model=previous_model,
            ),
        )  # fmt: skip
        revoked = revoke_for_device_change(session, openid, previous)
        log.info("sign-in on a new device; %d credential(s) revoked", revoked)
    return tokens
