"""Errors of the identity domain (ID numbers and the authority registry)."""

from __future__ import annotations

from bot.errors import NotFound, ValidationFailed


class IdNumberInvalid(ValidationFailed):
    """The resident ID number is not valid."""

    code = "id_number_invalid"


class RecordNotFound(NotFound):
    """No registry record has this ID number."""

    code = "no_record"
