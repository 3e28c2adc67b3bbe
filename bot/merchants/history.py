"""The citizen's view of the audit trail: who verified them, when, and what was disclosed.

Invariant: a citizen sees only rows whose credential is bound to their openid, including every
``full_identity`` disclosure; rows show merchant names and field names, never values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.vocab import MerchantCategory, Scope, VerifyReason, VerifyResult
from storage.models.credential import Credential
from storage.models.merchant import Merchant
from storage.models.verification_audit import VerificationAudit


@dataclass(frozen=True)
class VerificationEntry:
    """One line of the history."""

    merchant: str
    category: MerchantCategory
    at: dt.datetime
    result: VerifyResult
    reason: VerifyReason | None
    scope: Scope
    disclosed: tuple[str, ...]


def verifications_for(session: Session, openid: str, limit: int = 50) -> list[VerificationEntry]:
    """The citizen's latest verifications, newest first."""
    rows = session.execute(
        select(VerificationAudit, Merchant.name, Merchant.category)
        .join(Credential, Credential.id == VerificationAudit.credential_id)
        .join(Merchant, Merchant.id == VerificationAudit.merchant_id)
        .where(Credential.openid == openid)
        .order_by(VerificationAudit.at.desc(), VerificationAudit.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    return [
        VerificationEntry(
            name,
            MerchantCategory(category),
            audit.at,
            VerifyResult(audit.result),
            VerifyReason(audit.reason) if audit.reason else None,
            Scope(audit.scope),
            tuple(filter(None, audit.disclosed.split(","))),
        )
        for audit, name, category in rows
    ]
