"""An IntegrityError's log line names no identifier: no SQL parameters, no PostgreSQL DETAIL.

A real duplicate insert through the real engine and the real error handler (the route below is
test harness, the failure is the database's own). On PostgreSQL the driver adds
``DETAIL: Key (id)=(...) already exists``, on both backends SQLAlchemy used to add
``[parameters: ...]`` with the openid, device id and credential id.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from apiflask import APIFlask
from sqlalchemy import insert, select

from bot.extensions import database
from storage.models.credential import Credential
from tests.registry_factories import add_record, issue

OPENID = "o-Identifier-Openid-7Q"
DEVICE = "device-Identifier-9Z"


@pytest.fixture
def app(app: APIFlask) -> APIFlask:
    """The app with one extra route that re-inserts an existing credential row."""

    @app.post("/_test/duplicate-credential")
    @app.doc(hide=True)
    def duplicate() -> dict[str, str]:
        with database(app).transaction() as session:
            original = session.scalars(select(Credential)).one()
            session.execute(
                insert(Credential).values(
                    id=original.id,
                    subject_id=original.subject_id,
                    level=original.level,
                    openid=original.openid,
                    device_id=original.device_id,
                    status="active",
                    issued_at=original.issued_at,
                    expires_at=original.expires_at,
                )
            )
        return {}

    return app


def test_integrity_error_is_logged_without_identifiers(
    app: Any, client: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    issued = issue(app, add_record(app), openid=OPENID, device_id=DEVICE)
    response = client.post("/_test/duplicate-credential")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    logged = "\n".join(
        [record.getMessage() + (record.exc_text or "") for record in caplog.records]
        + [capsys.readouterr().out]
    )
    assert "IntegrityError" in logged  # the failure was logged, with its traceback
    for identifier in (OPENID, DEVICE, issued.credential_id):
        assert identifier not in logged
