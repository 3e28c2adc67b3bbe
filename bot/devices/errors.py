"""Errors of the devices domain."""

from __future__ import annotations

from bot.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed


class SessionInvalid(Unauthenticated):
    """The access token is unknown, expired or revoked."""

    code = "session_invalid"


class TokenReplayed(Unauthenticated):
    """A refresh token was used twice; the whole session family is now revoked."""

    code = "token_replayed"


class LoginNonceInvalid(Unauthenticated):
    """The login nonce is unknown, expired or already used; fetch a new one."""

    code = "login_nonce_invalid"


class DeviceProofInvalid(Unauthenticated):
    """The device did not prove possession of its key (bad signature, or another key)."""

    code = "device_proof_invalid"


class DeviceKeyInvalid(ValidationFailed):
    """The device key is not a base64 ECDSA P-256 public key, or is missing."""

    code = "device_key_invalid"


class DeviceNotProven(Forbidden):
    """This session's login did not prove the device's key; sign in again."""

    code = "device_not_proven"


class SignInConflict(Conflict):
    """Another sign-in of this account or device was being written at the same moment; retry."""

    code = "sign_in_conflict"
