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


class UnlockRequired(Forbidden):
    """ "Unlock with fingerprint" is on: unlock with the phone's biometric first, then retry."""

    code = "unlock_required"


class UnlockChallengeUnknown(ValidationFailed):
    """The unlock challenge is not one we issued to this session; fetch a new one."""

    code = "unlock_challenge_unknown"


class UnlockChallengeExpired(ValidationFailed):
    """The unlock challenge is too old; fetch a new one."""

    code = "unlock_challenge_expired"


class UnlockChallengeUsed(Conflict):
    """The unlock challenge was already used; fetch a new one."""

    code = "unlock_challenge_used"


class SoterResultInvalid(ValidationFailed):
    """resultJSON is not the JSON object wx.startSoterAuthentication returns."""

    code = "soter_result_invalid"


class SoterSignatureInvalid(Forbidden):
    """WeChat did not accept the SOTER signature of resultJSON for this account."""

    code = "soter_signature_invalid"


class UnlockMethodMismatch(Forbidden):
    """The unlock used another biometric than the one the citizen chose."""

    code = "unlock_method_mismatch"
