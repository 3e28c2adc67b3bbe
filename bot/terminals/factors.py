"""The password factor of an upgraded credential: a presentation carrying ``amr: ["pwd"]``, and
the reset that voids the credential.

Invariants:
- A password presentation is minted only for the citizen's active *upgraded* credential, from
  its bound device, after :func:`bot.terminals.passwords.check_password` (lockout included)
  accepted the password. The slow hash check runs outside any database transaction.
- Resetting the password revokes the upgraded credential (reason ``password_reset``) and deletes
  its hash in one transaction: a new password needs a new terminal visit.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.credentials.errors import DeviceNotBound
from bot.credentials.service import active_credential, revoke_credential
from bot.credentials.tokens import PASSWORD_AMR, Presentation, mint_presentation
from bot.crypto import same
from bot.terminals.errors import NoUpgradedCredential
from bot.terminals.passwords import check_password
from bot.vocab import CredentialReason, Level
from storage.db import Database
from storage.ephemeral import EphemeralStore
from storage.models.credential_password import CredentialPassword


def _upgraded_password(session: Session, openid: str, device_id: str) -> tuple[str, str]:
    """(credential id, password hash) of the openid's active upgraded credential, from its bound
    device only (another device cannot even spend password attempts)."""
    credential = active_credential(session, openid)
    if credential is None or credential.level != Level.UPGRADED:
        raise NoUpgradedCredential()
    if not same(credential.device_id, device_id):
        raise DeviceNotBound()
    row = session.get(CredentialPassword, credential.id)
    if row is None:
        raise NoUpgradedCredential()
    return credential.id, row.password_hash


def password_presentation(
    database: Database,
    store: EphemeralStore,
    settings: Settings,
    clock: Callable[[], float],
    *,
    openid: str,
    device_id: str,
    password: str,
    other_amr: tuple[str, ...] = (),
) -> Presentation:
    """A presentation token with ``amr: ["pwd"]`` (plus ``other_amr``, methods the caller
    already checked, such as a biometric unlock), or the reason it is refused."""
    with database.transaction() as session:
        credential_id, password_hash = _upgraded_password(session, openid, device_id)
    check_password(store, credential_id, password_hash, password, clock)
    with database.transaction() as session:
        return mint_presentation(
            session,
            store,
            settings,
            openid=openid,
            device_id=device_id,
            amr=(PASSWORD_AMR, *other_amr),
        )


def reset_password(database: Database, openid: str, device_id: str) -> str:
    """Void the upgraded credential and its password; returns the revoked credential's id."""
    with database.transaction() as session:
        credential_id, _ = _upgraded_password(session, openid, device_id)
        revoke_credential(session, credential_id, CredentialReason.PASSWORD_RESET)
        session.execute(
            delete(CredentialPassword).where(CredentialPassword.credential_id == credential_id)
        )
    return credential_id
