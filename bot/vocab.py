"""The closed vocabularies of Wangzheng, one ``StrEnum`` each, defined here and nowhere else.

Invariants:
- Every value is API: it is stored in the database, sent to clients and listed in
  ``/openapi.json``. A value never changes meaning; a new one is added here, and nowhere else.
- Members are ``str``: they compare equal to, and serialise as, their plain value.
- This module imports nothing of ours, so any layer may use it. The database check constraints
  spell the same values in SQL (migrations are frozen); a test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """Assurance level of a credential."""

    LIGHT = "light"
    UPGRADED = "upgraded"


class Scope(StrEnum):
    """What a merchant may ask a verification to disclose (in this order of sensitivity)."""

    RESULT = "result"
    AGE_OVER_18 = "age_over_18"
    NAME_MASKED = "name_masked"
    FULL_IDENTITY = "full_identity"


class MerchantCategory(StrEnum):
    """The kind of business a merchant is."""

    HOTEL = "hotel"
    INTERNET_CAFE = "internet_cafe"
    COURIER = "courier"
    BANK = "bank"
    GOVERNMENT = "government"
    OTHER = "other"


# Categories under a real-name registration duty: only these may hold ``full_identity``.
REGISTRATION_CATEGORIES = frozenset(
    {MerchantCategory.HOTEL, MerchantCategory.BANK, MerchantCategory.GOVERNMENT}
)


class CredentialStatus(StrEnum):
    """Lifecycle of a credential; it only ever moves away from ``active``."""

    ACTIVE = "active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


class CredentialReason(StrEnum):
    """Why a credential stopped being active."""

    REISSUED = "reissued"
    # The person enrolled again from a different WeChat account (a takeover; the holder is told
    # and may dispute it).
    REISSUED_TO_OTHER_ACCOUNT = "reissued_to_other_account"
    # The previous holder said "not me" to the takeover that issued it.
    DISPUTED = "disputed"
    DEVICE_CHANGED = "device_changed"
    CITIZEN_REQUEST = "citizen_request"
    REPORTED_STOLEN = "reported_stolen"
    # The citizen or the authority reported the ID card lost (the registry record is flagged).
    ID_CARD_REPORTED_LOST = "id_card_reported_lost"
    # The citizen reset the password of their upgraded credential: a new one needs a new
    # terminal visit (docs/terminals.md).
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason code, not a password
    # The holder deleted their credential, or their whole account (DELETE /api/v1/me).
    DELETED_BY_HOLDER = "deleted_by_holder"


class VerifyResult(StrEnum):
    """The outcome of one verification."""

    VALID = "valid"
    INVALID = "invalid"


class VerifyReason(StrEnum):
    """Why a verification is ``invalid`` (checked in the order of :mod:`bot.merchants.verify`)."""

    SCOPE_NOT_GRANTED = "scope_not_granted"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    LEVEL_TOO_LOW = "level_too_low"
    # The merchant asked for a factor (``required_factors``) the token was not minted with.
    FACTOR_MISSING = "factor_missing"
    # The counter check (刷證 + 刷臉): the live face is not the holder's, or is not usable.
    FACE_MISMATCH = "face_mismatch"
    IMAGE_INVALID = "image_invalid"
    FACE_NOT_FOUND = "face_not_found"
    FACE_MULTIPLE = "face_multiple"
    FACE_TOO_SMALL = "face_too_small"
    FACE_POSE = "face_pose"
    FACE_TOO_DARK = "face_too_dark"
    FACE_OVEREXPOSED = "face_overexposed"
    FACE_BLURRED = "face_blurred"


class Factor(StrEnum):
    """An authentication factor a merchant may demand at verification (``required_factors``)."""

    PASSWORD = "password"  # noqa: S105 - a factor name, not a password
    BIOMETRIC = "biometric"  # a WeChat SOTER fingerprint or face unlock just before the token


class Capability(StrEnum):
    """What a merchant may do beyond disclosure scopes (granted by the operator)."""

    # Send a live photo of the person at the counter with the token (刷證 + 刷臉).
    FACE = "face"


class TerminalSessionStatus(StrEnum):
    """Where a terminal session stands (``GET /api/v1/terminal/sessions/{id}``)."""

    OPEN = "open"
    CLAIMED = "claimed"
    READY = "ready"
    ISSUED = "issued"


class BillStatus(StrEnum):
    """Lifecycle of an agency's bill: ``open`` until one payment succeeds, then ``paid``;
    ``refunded`` once refunds cover the whole amount (a partial refund leaves it ``paid``)."""

    OPEN = "open"
    PAID = "paid"
    REFUNDED = "refunded"


class OrderStatus(StrEnum):
    """A WeChat Pay order of one bill.

    ``creating`` while WeChat is asked for the prepay id, ``created`` once it answered,
    ``paid`` when a verified callback (or query) confirms it, ``closed`` when it expired or
    WeChat refused it, ``duplicate`` when it was paid although the bill was already paid by
    another order (to be refunded).
    """

    CREATING = "creating"
    CREATED = "created"
    PAID = "paid"
    CLOSED = "closed"
    DUPLICATE = "duplicate"


class RefundStatus(StrEnum):
    """A refund as WeChat Pay reports it."""

    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
