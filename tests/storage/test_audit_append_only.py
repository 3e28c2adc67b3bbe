"""The verification audit is append-only in the database itself, not only in the ORM."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.extensions import database
from storage.models.merchant import Merchant
from storage.models.verification_audit import VerificationAudit
from tests.registry_factories import add_merchant


def _insert_row(app: Any) -> None:
    add_merchant(app)
    with database(app).transaction() as session:
        merchant_id = session.scalar(select(Merchant.id))
        session.add(
            VerificationAudit(
                merchant_id=merchant_id, result="valid", scope="result", client_ip_hash="0" * 64
            )
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE verification_audits SET result = 'invalid'",
        "DELETE FROM verification_audits",
    ],
)
def test_raw_sql_cannot_rewrite_the_audit(app: Any, db: Any, statement: str) -> None:
    _insert_row(app)
    database = db
    with pytest.raises(DBAPIError, match="append-only"):
        with database.engine.begin() as conn:
            conn.execute(text(statement))
    with database.transaction() as session:
        rows = session.execute(select(VerificationAudit.result)).scalars().all()
        assert rows == ["valid"]
        assert session.scalar(select(func.count()).select_from(VerificationAudit)) == 1
