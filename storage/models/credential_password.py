"""The 8-digit password of an upgraded credential.

Invariants:
- Only an argon2id hash (argon2-cffi, PHC string) is stored; the password never is, nor logged.
- One row per upgraded credential, written in the transaction that issues it; resetting the
  password revokes the credential (reason ``password_reset``) and deletes the row, so a new
  password always comes with a new terminal visit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class CredentialPassword(Base):
    """The password hash of one upgraded credential."""

    __tablename__ = "credential_passwords"

    credential_id: Mapped[str] = mapped_column(
        ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(160))
    set_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
