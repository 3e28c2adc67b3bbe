"""Errors of the credentials domain."""

from __future__ import annotations

from bot.errors import Conflict, Forbidden, NotFound, ValidationFailed
from bot.vocab import VerifyReason


class NoActiveCredential(NotFound):
    """You have no active credential; enrol first."""

    code = "no_credential"


class DeviceNotBound(Forbidden):
    """This credential is bound to another device; enrol again on this one."""

    code = "device_not_bound"


class IdCardExpired(Conflict):
    """The ID card has expired; renew it before enrolling."""

    code = "id_card_expired"


class LevelInvalid(ValidationFailed):
    """The credential level must be light or upgraded."""

    code = "level_invalid"


class PresentationRejected(Exception):
    """A presentation token failed verification; ``reason`` is the stable verify reason code.

    Not a :class:`~bot.errors.WangzhengError`: a bad token is a verification *result*, which the
    verify API answers with 200 ``{"result": "invalid", "reason": ...}``.
    """

    def __init__(self, reason: VerifyReason) -> None:
        super().__init__(reason)
        self.reason = reason
