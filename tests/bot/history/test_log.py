"""The lifecycle log's subscribers on a real database: unlock switches and unlocks, a takeover
(what each side sees), and a rolled-back change that leaves no line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.credentials.service import issue_credential
from bot.events import UnlockPreferenceChanged, UnlockVerified, record
from bot.extensions import clock, database, settings
from bot.history.view import HistoryEntry, history_page
from bot.identity.enrolment import issue_light_credential
from bot.vocab import Level
from storage.models.citizen_event import CitizenEvent
from tests.device_keys import proven_session
from tests.registry_factories import add_record


def _sign_in(app: Any, openid: str, device_id: str, model: str) -> int:
    with database(app).transaction() as session:
        tokens = proven_session(session, openid=openid, device_id=device_id, device_model=model)
        return int(tokens.citizen_id)


def _lines(app: Any, citizen_id: int, openid: str) -> list[HistoryEntry]:
    with database(app).transaction() as session:
        return history_page(
            session, settings(app), citizen_id=citizen_id, openid=openid, limit=100
        ).entries


def test_unlock_switches_and_unlocks_are_lines_with_method_and_model(app: Any) -> None:
    citizen = _sign_in(app, "o-unlock", "dev-unlock", "Mate 60")
    with database(app).transaction() as session:
        record(session, UnlockPreferenceChanged(citizen, True, "fingerprint", "Mate 60"))
    with database(app).transaction() as session:
        record(session, UnlockVerified(citizen, "fingerprint", "Mate 60"))
    with database(app).transaction() as session:
        record(session, UnlockPreferenceChanged(citizen, False, "fingerprint", None))
    lines = [(e.kind, e.device_model, e.fields) for e in _lines(app, citizen, "o-unlock")]
    assert lines == [
        ("unlock_disabled", None, {"method": "fingerprint"}),
        ("unlock_verified", "Mate 60", {"method": "fingerprint"}),
        ("unlock_enabled", "Mate 60", {"method": "fingerprint"}),
    ]


def test_a_line_is_timed_by_the_app_clock(app: Any) -> None:
    """The line's time is the app's (injectable) clock, not the wall clock: pinned ten years
    ahead, then moved on by 90 seconds, the two lines carry exactly those times."""
    citizen = _sign_in(app, "o-clock", "dev-clock", "Mate 60")
    pinned = dt.datetime(2036, 2, 29, 8, 30, tzinfo=dt.UTC)
    clock(app).set(pinned.timestamp())
    with database(app).transaction() as session:
        record(session, UnlockPreferenceChanged(citizen, True, "fingerprint", "Mate 60"))
    clock(app).advance(90)
    with database(app).transaction() as session:
        record(session, UnlockVerified(citizen, "fingerprint", "Mate 60"))
    lines = [(e.kind, e.at) for e in _lines(app, citizen, "o-clock")]
    assert lines == [
        ("unlock_verified", pinned + dt.timedelta(seconds=90)),
        ("unlock_enabled", pinned),
    ]


def test_a_rolled_back_change_leaves_no_line(app: Any) -> None:
    citizen = _sign_in(app, "o-rollback", "dev-rollback", "iPhone 12")
    with pytest.raises(RuntimeError), database(app).transaction() as session:
        record(session, UnlockPreferenceChanged(citizen, True, "face", "iPhone 12"))
        raise RuntimeError("the change fails before its commit")
    with database(app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(CitizenEvent)) == 0


def test_a_takeover_tells_each_side_only_its_own(app: Any) -> None:
    """Another account enrols the same person: the previous holder sees "moved to another
    account" with that phone's model only; the new holder sees that it replaced a credential of
    another account, without that credential's id."""
    subject = add_record(app)
    first = _sign_in(app, "o-first", "dev-first", "iPhone 15")
    second = _sign_in(app, "o-second", "dev-second", "Pixel 9")
    old = issue_light_credential(
        database(app), citizen_id=first, openid="o-first", device_id="dev-first",
        subject_id=subject, card_pack=False,
    )  # fmt: skip
    new = issue_light_credential(
        database(app), citizen_id=second, openid="o-second", device_id="dev-second",
        subject_id=subject, card_pack=False,
    )  # fmt: skip
    previous = _lines(app, first, "o-first")
    assert [(e.kind, e.device_model) for e in previous] == [
        ("credential_taken_over", "iPhone 15"),
        ("credential_issued", "iPhone 15"),
    ]
    assert previous[0].fields == {
        "other_device_model": "Pixel 9", "credential_id": old.credential_id,
    }  # fmt: skip
    assert new.credential_id not in str(previous)
    current = _lines(app, second, "o-second")
    assert [(e.kind, e.device_model) for e in current] == [("credential_issued", "Pixel 9")]
    assert current[0].fields["superseded"] == []
    assert current[0].fields["superseded_other_account"] is True
    assert old.credential_id not in str(current)


def test_a_reissue_to_another_account_without_a_takeover_record_is_still_told(app: Any) -> None:
    """A terminal's upgraded issuance to another account ends the person's credential with
    ``reissued_to_other_account`` and records no takeover: the previous holder still gets the
    line, without the other phone's model."""
    subject = add_record(app)
    first = _sign_in(app, "o-old-holder", "dev-old", "iPhone 11")
    _sign_in(app, "o-new-holder", "dev-new", "Pixel 7")
    old = issue_light_credential(
        database(app), citizen_id=first, openid="o-old-holder", device_id="dev-old",
        subject_id=subject, card_pack=False,
    )  # fmt: skip
    with database(app).transaction() as session:
        issue_credential(
            session, subject_id=subject, level=Level.UPGRADED, openid="o-new-holder",
            device_id="dev-new",
        )  # fmt: skip
    newest = _lines(app, first, "o-old-holder")[0]
    assert (newest.kind, newest.device_model) == ("credential_taken_over", "iPhone 11")
    assert newest.fields == {"credential_id": old.credential_id, "other_device_model": None}
