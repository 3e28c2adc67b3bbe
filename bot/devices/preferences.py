"""The citizen's own settings. Invariant: a citizen changes only their own row."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.devices.errors import SessionInvalid
from storage.models.citizen import Citizen


@dataclass(frozen=True)
class Preferences:
    """What the citizen can switch."""

    notify_on_verification: bool


def get_preferences(session: Session, citizen_id: int) -> Preferences:
    """The citizen's current preferences."""
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise SessionInvalid("Sign in again.")
    return Preferences(citizen.notify_on_verification)


def set_preferences(
    session: Session, citizen_id: int, *, notify_on_verification: bool
) -> Preferences:
    """Store the citizen's preferences in the caller's transaction."""
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise SessionInvalid("Sign in again.")
    citizen.notify_on_verification = notify_on_verification
    return Preferences(citizen.notify_on_verification)
