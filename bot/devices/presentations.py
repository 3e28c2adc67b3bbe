"""The pass's presentation token for a citizen's signed-in device: the one sequence behind
``POST /api/v1/credentials/current/presentations`` and the pass page's QR.

Invariants of :func:`present_credential`:
- Unlock window: when the citizen switched the biometric unlock on, a token is minted only
  while this device has an open unlock window of the chosen method
  (:func:`bot.devices.unlock.presentation_amr`; :class:`~bot.devices.errors.UnlockRequired`
  otherwise), and it then carries ``amr`` with that method. This is checked before anything
  about the credential, so a locked pass says "unlock" first.
- Bound device: a token is minted only for the citizen's active credential and only from the
  device it is bound to (:func:`bot.credentials.tokens.mint_presentation`;
  ``NoActiveCredential`` or ``DeviceNotBound`` otherwise).
- Proven device: it takes the principal's ids, not a request; the caller has already checked
  that the session's sign-in proved the device's key (``handlers.auth.proven_citizen``).
- Both checks and the minting run in the caller's transaction (``session``).

The password presentation (``bot.terminals.factors.password_presentation``) does not use it: it
needs the unlock's ``amr`` before the password check, and mints only after that check passed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.tokens import Presentation, mint_presentation
from bot.devices.unlock import Clock, presentation_amr
from storage.ephemeral import EphemeralStore


def present_credential(
    session: Session,
    store: EphemeralStore,
    settings: Settings,
    clock: Clock,
    *,
    citizen_id: int,
    openid: str,
    device_id: str,
) -> Presentation:
    """A fresh presentation token of the citizen's active credential for this device, with the
    ``amr`` of its open unlock window; see the module invariants for when it is refused."""
    amr = presentation_amr(session, store, clock, citizen_id=citizen_id, device_id=device_id)
    return mint_presentation(session, store, settings, openid=openid, device_id=device_id, amr=amr)
