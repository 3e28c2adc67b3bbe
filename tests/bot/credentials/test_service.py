"""Issuance, supersession, revocation, and the database's one-active-credential rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.credentials.errors import IdCardExpired, LevelInvalid
from bot.credentials.service import (
    active_credential,
    issue_credential,
    revoke_credential,
    revoke_for_device_change,
)
from bot.extensions import database
from bot.identity.credential_view import credential_view
from bot.vocab import CredentialReason
from storage.models.base import utcnow
from storage.models.credential import Credential
from tests.registry_factories import add_record, issue, settings_of


def _statuses(app: Any) -> dict[str, tuple[str, str | None]]:
    with database(app).transaction() as session:
        return {c.id: (c.status, c.reason) for c in session.scalars(select(Credential))}


def test_issue_then_reissue_supersedes_in_one_transaction(app: Any) -> None:
    subject = add_record(app)
    first = issue(app, subject)
    second = issue(app, subject, device_id="device-2")
    assert second.superseded_ids == (first.credential_id,)
    assert _statuses(app) == {
        first.credential_id: ("superseded", "reissued"),
        second.credential_id: ("active", None),
    }


def test_database_refuses_two_active_credentials_for_one_subject(app: Any, db: Any) -> None:
    subject = add_record(app)
    issue(app, subject)
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(
            Credential(
                id="cr_manual",
                subject_id=subject,
                level="light",
                openid="o-other",
                device_id="d",
                status="active",
                expires_at=utcnow() + dt.timedelta(days=1),
            )
        )
    with db.transaction() as session:  # a revoked duplicate is fine
        session.add(
            Credential(
                id="cr_manual2",
                subject_id=subject,
                level="light",
                openid="o-other",
                device_id="d",
                status="revoked",
                expires_at=utcnow() + dt.timedelta(days=1),
            )
        )


def test_one_openid_holds_one_active_credential_across_subjects(app: Any) -> None:
    first = issue(app, add_record(app))
    other_subject = add_record(app, id_number="11010519491231002X", name="王五")
    second = issue(app, other_subject)
    assert second.superseded_ids == (first.credential_id,)


def test_expiry_never_passes_the_id_card(app: Any) -> None:
    card_end = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=10)
    issued = issue(app, add_record(app, expires_on=card_end))
    assert issued.expires_at.date() == card_end
    assert issued.expires_at <= dt.datetime.combine(card_end, dt.time.max, tzinfo=dt.UTC)


def test_expired_card_is_refused(app: Any) -> None:
    subject = add_record(app, expires_on=dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    with pytest.raises(IdCardExpired):
        issue(app, subject)


def test_unknown_level_is_refused(app: Any, db: Any) -> None:
    subject = add_record(app)
    with pytest.raises(LevelInvalid), db.transaction() as session:
        issue_credential(session, subject_id=subject, level="gold", openid="o", device_id="d")  # type: ignore[arg-type]  # wrong on purpose


@pytest.mark.parametrize("by", ["openid", "citizen_id"])
def test_device_change_revokes_the_old_devices_credential(
    app: Any, db: Any, login: Any, by: str
) -> None:
    tokens = login("o-test-citizen", "device-1")
    issued = issue(app, add_record(app))
    with db.transaction() as session:
        who = "o-test-citizen" if by == "openid" else tokens.citizen_id
        assert revoke_for_device_change(session, who, "device-other") == 0
        assert revoke_for_device_change(session, who, "device-1") == 1
    assert _statuses(app)[issued.credential_id] == ("revoked", "device_changed")


def test_revoke_credential_and_view(app: Any, db: Any) -> None:
    issued = issue(app, add_record(app, name="欧阳娜娜"))
    with db.transaction() as session:
        view = credential_view(session, settings_of(app), "o-test-citizen")
        assert (view.status, view.valid, view.masked_name) == ("active", True, "欧**娜")
        assert revoke_credential(session, issued.credential_id, CredentialReason.CITIZEN_REQUEST)
        assert not revoke_credential(
            session, issued.credential_id, CredentialReason.CITIZEN_REQUEST
        )
        assert active_credential(session, "o-test-citizen") is None
        view = credential_view(session, settings_of(app), "o-test-citizen")
        assert (view.status, view.reason, view.valid) == ("revoked", "citizen_request", False)
