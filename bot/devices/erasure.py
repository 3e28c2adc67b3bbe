"""Erasure of a citizen's account (``DELETE /api/v1/me``), under PIPL's right to erasure.

Invariants (one transaction; ``docs/privacy.md`` lists what is kept and why):
- The active credential ends with reason ``deleted_by_holder`` (its card leaves the card pack
  after commit, through the credential's event), then every session, device key and password
  hash of the account is deleted, the citizen's history (``citizen_events``, the lifecycle
  log) is deleted, and the citizen row (preferences included) goes.
- What stays for the record no longer names the account: ended credentials, takeovers and
  card events keep their rows but their openid and device id are replaced by an opaque erased
  marker. The verification audit never held a name or ID number; it keeps the merchant's
  pseudonym and the outcome. The registry record belongs to the authority and stays.
- :class:`~bot.events.AccountErased` is recorded in the same transaction, so adapters drop
  their own links to the person (the official account's follower UnionID) with it.
- Deleting only the credential (:func:`delete_credential`) keeps the account. Both are
  idempotent: a second credential deletion ends nothing; after an account deletion the tokens
  are gone, so a repeat is ``401`` and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.credentials.service import revoke_holder
from bot.events import AccountErased, record
from bot.vocab import CredentialReason
from storage.models.app_session import AppSession
from storage.models.card_event import CardEvent
from storage.models.citizen import Citizen
from storage.models.citizen_event import CitizenEvent
from storage.models.credential import Credential
from storage.models.credential_password import CredentialPassword
from storage.models.credential_takeover import CredentialTakeover
from storage.models.device_key import DeviceKey


@dataclass(frozen=True)
class Erasure:
    """What the erasure removed."""

    credentials_ended: int
    sessions: int
    device_keys: int


def delete_credential(session: Session, openid: str) -> bool:
    """End the holder's active credential (``deleted_by_holder``); False when there was none."""
    return bool(revoke_holder(session, openid, CredentialReason.DELETED_BY_HOLDER))


def erase_account(session: Session, citizen_id: int) -> Erasure:
    """Erase the citizen's account; see the module invariants."""
    citizen = session.get(Citizen, citizen_id, with_for_update=True)
    if citizen is None:
        return Erasure(0, 0, 0)
    openid = citizen.openid
    record(session, AccountErased(citizen_id, citizen.unionid))
    ended = revoke_holder(session, openid, CredentialReason.DELETED_BY_HOLDER)
    credential_ids = select(Credential.id).where(Credential.openid == openid)
    session.execute(
        delete(CredentialPassword).where(CredentialPassword.credential_id.in_(credential_ids))
    )
    sessions = session.execute(delete(AppSession).where(AppSession.citizen_id == citizen_id))
    keys = session.execute(delete(DeviceKey).where(DeviceKey.citizen_id == citizen_id))
    # The history is the citizen's own; the lines this transaction's events would add are not
    # written either (bot.history.log skips an account that no longer exists).
    session.execute(delete(CitizenEvent).where(CitizenEvent.citizen_id == citizen_id))
    marker = "erased:" + secrets.token_hex(8)
    session.execute(
        update(Credential).where(Credential.openid == openid).values(openid=marker, device_id="")
    )
    session.execute(
        update(CredentialTakeover)
        .where(CredentialTakeover.previous_openid == openid)
        .values(previous_openid=marker, device_model=None)
    )
    session.execute(update(CardEvent).where(CardEvent.openid == openid).values(openid=marker))
    session.delete(citizen)
    session.flush()
    return Erasure(
        len(ended),
        int(getattr(sessions, "rowcount", 0) or 0),
        int(getattr(keys, "rowcount", 0) or 0),
    )
