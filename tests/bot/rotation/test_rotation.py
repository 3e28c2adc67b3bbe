"""Data-key and hash-key rotation: sealed values name their key, and a rotation resumes."""

from __future__ import annotations

import base64
import datetime as dt
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, func, select

import storage.models
from bot.crypto import DecryptionFailed, Keyring, seal, unseal
from bot.extensions import database, settings
from bot.identity.registry import find_record, record_name
from bot.rotation.service import SEALED_COLUMNS, reseal_batch
from storage.models.base import Base
from storage.models.registry_record import RegistryRecord
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify
from tests.registry_factories import ADULT_ID

OLD, NEW = os.urandom(32), os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_a_sealed_value_names_its_key_and_opens_only_under_it() -> None:
    sealed = seal(OLD, b"secret", "p")
    assert unseal(Keyring(NEW, (OLD,)), sealed, "p") == b"secret"
    with pytest.raises(DecryptionFailed):
        unseal(Keyring(NEW), sealed, "p")
    with pytest.raises(DecryptionFailed):
        unseal(Keyring(OLD), sealed, "other purpose")
    assert Keyring(NEW, (OLD,)).sealed_prefix() != seal(OLD, b"x", "p")[:5]


def test_values_from_before_key_ids_still_open() -> None:
    nonce = os.urandom(12)
    legacy = b"\x01" + nonce + AESGCM(OLD).encrypt(nonce, b"legacy", b"p")
    assert unseal(Keyring(NEW, (OLD,)), legacy, "p") == b"legacy"


def test_every_sealed_column_is_rotated() -> None:
    assert storage.models.__all__  # every table is registered
    sealed = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_sealed") and isinstance(column.type, LargeBinary)
    }
    assert sealed == {spec.label for spec in SEALED_COLUMNS}


def _under(app: Any, key: bytes) -> int:
    """How many sealed values in the database are under ``key``."""
    prefix = Keyring(key).sealed_prefix()
    total = 0
    with database(app).transaction() as session:
        for spec in SEALED_COLUMNS:
            column = getattr(spec.model, spec.column)
            total += (
                session.scalar(
                    select(func.count()).where(func.substr(column, 1, len(prefix)) == prefix)
                )
                or 0
            )
    return total


def test_rotation_end_to_end(app: Any, client: Any, login: Any, make_app: Any, runner: Any) -> None:
    old_hash = settings(app).hash_key
    citizen = enrolled(app, login)
    key = merchant_key(app)
    before = verify(client, key, fetch_token(client, citizen.access_token))[1]
    assert before["result"] == "valid"
    assert _under(app, settings(app).data_key) >= 4

    old_data = settings(app).data_key
    new_hash = os.urandom(32)
    rotating = make_app(
        data_key=b64(NEW),
        data_keys_retired=b64(old_data),
        hash_key=b64(new_hash),
        hash_keys_retired=b64(old_hash),
    )
    # An interrupted run: one batch of one value, then the command resumes the rest.
    with database(rotating).transaction() as session:
        assert (
            reseal_batch(
                session,
                settings(rotating).data_keyring,
                SEALED_COLUMNS[0],
                1,
            )
            == 1
        )
    result = rotating.test_cli_runner().invoke(args=["keys", "rotate-data-key", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "no sealed value remains under a retired key" in result.output
    assert _under(rotating, old_data) == 0 and _under(rotating, NEW) >= 4
    again = rotating.test_cli_runner().invoke(args=["keys", "rotate-data-key"])
    assert again.exit_code == 0 and "0 re-sealed in this run" in again.output

    hashed = rotating.test_cli_runner().invoke(args=["keys", "rotate-hash-key", "--batch", "1"])
    assert hashed.exit_code == 0 and "done: 1 re-hashed" in hashed.output, hashed.output

    rotated = make_app(data_key=b64(NEW), hash_key=b64(new_hash))  # old keys gone entirely
    rotated_settings = settings(rotated)
    with database(rotated).transaction() as session:
        record = find_record(session, rotated_settings, ADULT_ID)
        assert record is not None and record_name(rotated_settings, record) == "张三明"
    rotated_client = rotated.test_client()
    after = verify(rotated_client, key, fetch_token(rotated_client, citizen.access_token))[1]
    assert after["result"] == "valid"
    assert after["subject_pseudonym"] == before["subject_pseudonym"]  # stable across rotation


def test_a_value_under_no_key_stops_the_rotation(app: Any, db: Any, make_app: Any) -> None:
    with db.transaction() as session:
        session.add(
            RegistryRecord(
                id_hash="f" * 64,
                id_number_sealed=seal(os.urandom(32), b"lost", "registry.id_number"),
                name_sealed=b"\x02",
                photo_sealed=b"\x02",
                birth_date=dt.date(1990, 1, 1),
                sex="M",
                expires_on=dt.date(2040, 1, 1),
                row_digest="0" * 64,
            )
        )
    rotating = make_app(data_key=b64(NEW), data_keys_retired=b64(OLD))
    result = rotating.test_cli_runner().invoke(args=["keys", "rotate-data-key"])
    assert result.exit_code == 1
    assert (
        "rotation_stuck" in result.output and "registry_records.id_number_sealed" in result.output
    )
