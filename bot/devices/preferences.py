"""The citizen's own settings.

Invariants:
- A citizen changes only their own row, in the caller's transaction.
- "Unlock with fingerprint" (``unlock_method``: ``fingerprint``, ``face`` or None for off) can
  be switched on at any time, but switched off or to another biometric only with an open unlock
  window of the current one (:func:`bot.devices.unlock.recent_unlock`): whoever holds a session
  but not the finger cannot remove the protection. Each change records
  ``UnlockPreferenceChanged`` with the device model the citizen last signed in on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.devices.errors import SessionInvalid, UnlockRequired
from bot.events import UnlockPreferenceChanged, record
from storage.models.citizen import Citizen

KEEP = "keep"  # the unlock setting was not sent: leave it as it is


@dataclass(frozen=True)
class Preferences:
    """What the citizen can switch; ``unlock_method`` None means no biometric unlock."""

    notify_on_verification: bool
    unlock_method: str | None = None


def _citizen(session: Session, citizen_id: int) -> Citizen:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise SessionInvalid("Sign in again.")
    return citizen


def get_preferences(session: Session, citizen_id: int) -> Preferences:
    """The citizen's current preferences."""
    citizen = _citizen(session, citizen_id)
    return Preferences(citizen.notify_on_verification, citizen.unlock_method)


def set_preferences(
    session: Session,
    citizen_id: int,
    *,
    notify_on_verification: bool,
    unlock_method: str | None = KEEP,
    unlocked_with: str | None = None,
) -> Preferences:
    """Store the citizen's preferences in the caller's transaction.

    ``unlocked_with``: the method of the device's open unlock window, if any; needed to switch
    an unlock off or to another method (else :class:`UnlockRequired`).
    """
    citizen = _citizen(session, citizen_id)
    citizen.notify_on_verification = notify_on_verification
    current = citizen.unlock_method
    if unlock_method != KEEP and unlock_method != current:
        if current is not None and unlocked_with != current:
            raise UnlockRequired(
                f"Unlock with your {current} to change this setting.", details={"method": current}
            )
        citizen.unlock_method = unlock_method
        record(
            session,
            UnlockPreferenceChanged(
                citizen_id=citizen.id,
                enabled=unlock_method is not None,
                method=unlock_method or current or "",
                device_model=citizen.current_device_model,
            ),
        )
    return Preferences(citizen.notify_on_verification, citizen.unlock_method)
