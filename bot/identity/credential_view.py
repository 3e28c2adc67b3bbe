"""What the citizen sees of their own credential: level, status, validity and the masked name.

It lives in identity, not in credentials, because the masked name comes from the registry
record: credentials never import identity (``tests/test_architecture.py``).

Invariant: never the ID number, and only the masked name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import NoActiveCredential
from bot.credentials.service import active_credential
from bot.identity.masking import mask_name
from bot.identity.registry import record_name
from bot.vocab import CredentialReason, CredentialStatus, Level
from storage.models.base import utcnow
from storage.models.credential import Credential
from storage.models.registry_record import RegistryRecord


@dataclass(frozen=True)
class CredentialView:
    """What the citizen sees of their credential (no ID number)."""

    level: Level
    status: CredentialStatus
    reason: CredentialReason | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    valid: bool
    masked_name: str


def credential_view(session: Session, settings: Settings, openid: str) -> CredentialView:
    """The citizen's active credential, else their latest one; raises when they never had one."""
    credential = (
        active_credential(session, openid)
        or session.scalars(
            select(Credential)
            .where(Credential.openid == openid)
            .order_by(Credential.issued_at.desc())
            .limit(1)
        ).one_or_none()
    )
    if credential is None:
        raise NoActiveCredential()
    record = session.get(RegistryRecord, credential.subject_id)
    masked = mask_name(record_name(settings, record)) if record is not None else ""
    valid = credential.status == CredentialStatus.ACTIVE and credential.expires_at > utcnow()
    return CredentialView(
        Level(credential.level),
        CredentialStatus(credential.status),
        CredentialReason(credential.reason) if credential.reason else None,
        credential.issued_at,
        credential.expires_at,
        valid,
        masked,
    )
