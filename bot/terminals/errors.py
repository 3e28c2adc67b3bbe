"""Errors of the terminals domain: terminal authentication, sessions, chip data, passwords.

Invariant: a terminal authentication failure (unknown or disabled terminal, bad signature,
stale timestamp, replayed nonce) has one code, ``terminal_auth_invalid``, and one message, so
the answer is no oracle; the reason is logged (never the key or the signature).
"""

from __future__ import annotations

from bot.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated, WangzhengError


class TerminalAuthInvalid(Unauthenticated):
    """The terminal request is not signed by an enabled terminal within the time window."""

    code = "terminal_auth_invalid"


class TerminalNotFound(NotFound):
    """No terminal has this id."""

    code = "terminal_not_found"


class TerminalNameInvalid(WangzhengError):
    """Terminal names and sites are 1 to 120 printable characters."""

    code = "terminal_name_invalid"
    status = 400


class SessionNotFound(NotFound):
    """No open terminal session has this id (it may have expired or been used)."""

    code = "terminal_session_not_found"


class SessionAlreadyClaimed(Conflict):
    """This terminal session was already claimed."""

    code = "terminal_session_claimed"


class SessionNotReady(Conflict):
    """The terminal session is not at the step this request needs."""

    code = "terminal_session_not_ready"


class ChipDataMismatch(WangzhengError):
    """The chip data does not match the registry (unknown ID number or a different name)."""

    code = "chip_data_mismatch"
    status = 422


class ChipCardExpired(Conflict):
    """The ID card has expired; renew it first."""

    code = "id_card_expired"


class ChipCardLost(Conflict):
    """This ID card was reported lost or stolen; it cannot be used."""

    code = "id_card_reported_lost"


class ChipPhotoInvalid(WangzhengError):
    """The chip photo is not a JPEG or PNG image of the expected size."""

    code = "chip_photo_invalid"
    status = 422


class ChipFaceMismatch(WangzhengError):
    """The live face at the terminal does not match the chip photo."""

    code = "face_mismatch"
    status = 422


class PasswordWeak(WangzhengError):
    """The password must be 8 digits, not one digit repeated, not a run, not a birth date."""

    code = "password_weak"
    status = 422


class PasswordInvalid(Forbidden):
    """The password is not correct."""

    code = "password_invalid"


class PasswordLocked(RateLimited):
    """Too many wrong passwords; the password is locked for a while."""

    code = "password_locked"


class NoUpgradedCredential(NotFound):
    """You have no active upgraded credential; visit a trusted terminal."""

    code = "no_upgraded_credential"
