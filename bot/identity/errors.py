"""Errors of the identity domain (ID numbers and the authority registry)."""

from __future__ import annotations

from bot.errors import Conflict, NotFound, ValidationFailed


class IdNumberInvalid(ValidationFailed):
    """The resident ID number is not valid."""

    code = "id_number_invalid"


class RecordNotFound(NotFound):
    """No registry record has this ID number."""

    code = "no_record"


class EnrolmentInProgress(Conflict):
    """Another enrolment of this person, or from this account, is being issued right now."""

    code = "enrolment_in_progress"


class UpgradedCredentialHeld(Conflict):
    """This person holds an upgraded credential; a light enrolment cannot replace it. Visit a
    trusted terminal to move it to this phone."""

    code = "upgraded_credential_held"
