"""``flask merchants ...``: the key is printed once and stored only as a peppered hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.merchants.accounts import key_digest
from storage.models.merchant import Merchant
from tests.registry_factories import settings_of


def test_create_rotate_disable(app: Any, db: Any, runner: Any) -> None:
    created = runner.invoke(
        args=[
            "merchants",
            "create",
            "Hotel One",
            "--category",
            "hotel",
            "--scopes",
            "result,full_identity",
        ]
    )
    assert created.exit_code == 0, created.output
    public_id = created.output.split()[1]
    key = created.output.split()[-1]
    with db.transaction() as session:
        row = session.scalars(select(Merchant)).one()
    assert row.key_hash == key_digest(settings_of(app), key) and key not in repr(row.__dict__)
    assert row.scopes == "result,full_identity"
    rotated = runner.invoke(args=["merchants", "rotate-key", public_id])
    assert rotated.exit_code == 0 and rotated.output.split()[-1] != key
    assert runner.invoke(args=["merchants", "disable", public_id]).exit_code == 0
    listing = runner.invoke(args=["merchants", "list"]).output
    assert "disabled" in listing and key not in listing


def test_refuses_full_identity_for_internet_cafe(app: Any, runner: Any) -> None:
    result = runner.invoke(
        args=[
            "merchants",
            "create",
            "Cafe",
            "--category",
            "internet_cafe",
            "--scopes",
            "full_identity",
        ]
    )
    assert result.exit_code == 1 and "scope_invalid" in result.output
    assert runner.invoke(args=["merchants", "disable", "m_missing"]).exit_code == 1
