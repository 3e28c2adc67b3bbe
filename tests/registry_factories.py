"""Builders for registry records, credentials and merchants, straight through the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.credentials.service import IssuedCredential, issue_credential
from bot.crypto import seal, seal_text
from bot.extensions import database, settings
from bot.identity.idnumber import make_id_number, parse_id_number
from bot.identity.registry import (
    ID_SEAL_PURPOSE,
    NAME_SEAL_PURPOSE,
    PHOTO_SEAL_PURPOSE,
    id_lookup_hash,
)
from bot.merchants.accounts import IssuedKey, create_merchant
from bot.vocab import Level
from storage.models.registry_record import RegistryRecord

ADULT_ID = make_id_number("110101", dt.date(1990, 3, 7), 123)
TODAY = dt.datetime.now(dt.UTC).date()
MINOR_ID = make_id_number("310104", TODAY.replace(year=TODAY.year - 10), 42)


def settings_of(app: Any) -> Any:
    """The app's settings."""
    return settings(app)


def add_record(
    app: Any,
    *,
    id_number: str = ADULT_ID,
    name: str = "张三明",
    expires_on: dt.date | None = None,
) -> int:
    """Insert a registry record (no embedding) and return its id."""
    settings = settings_of(app)
    parsed = parse_id_number(id_number)
    with database(app).transaction() as session:
        record = RegistryRecord(
            id_hash=id_lookup_hash(settings.hash_key, parsed.value),
            id_number_sealed=seal_text(settings.data_key, parsed.value, ID_SEAL_PURPOSE),
            name_sealed=seal_text(settings.data_key, name, NAME_SEAL_PURPOSE),
            photo_sealed=seal(settings.data_key, b"not-a-photo", PHOTO_SEAL_PURPOSE),
            birth_date=parsed.birth_date,
            sex=parsed.sex,
            expires_on=expires_on or dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3650),
            row_digest="0" * 64,
        )
        session.add(record)
        session.flush()
        return record.id


def issue(
    app: Any,
    subject_id: int,
    *,
    openid: str = "o-test-citizen",
    device_id: str = "device-1",
    level: str = "light",
) -> IssuedCredential:
    """Issue a credential through the service."""
    with database(app).transaction() as session:
        return issue_credential(
            session, subject_id=subject_id, level=Level(level), openid=openid, device_id=device_id
        )


def add_merchant(
    app: Any, *, name: str = "Hotel Test", category: str = "hotel", scopes: list[str] | None = None
) -> IssuedKey:
    """Create a merchant; returns its view and API key."""
    with database(app).transaction() as session:
        return create_merchant(
            session,
            settings_of(app),
            name=name,
            category=category,
            scopes=scopes or ["result", "age_over_18", "name_masked", "full_identity"],
        )
