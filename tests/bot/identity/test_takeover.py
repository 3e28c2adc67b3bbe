"""Takeover rules at the service level, where time is injected: the daily limit and its reset,
the block after a dispute, and the reasons credentials end with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from bot.credentials.service import issue_credential
from bot.identity.takeover import (
    EnrolmentBlocked,
    ReissueLimited,
    TakeoverNotFound,
    admit_light_issue,
    dispute_takeover,
    lift_light_enrolment_block,
    record_takeover,
)
from bot.vocab import Level
from storage.models.credential import Credential
from tests.registry_factories import add_record

T0 = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


def _enrol(db: Any, subject: int, openid: str, now: dt.datetime, per_day: int = 1) -> str | None:
    """What light enrolment does once the face matched; the takeover id, if it was one."""
    with db.transaction() as session:
        previous = admit_light_issue(session, subject, openid, per_day, now)
        issued = issue_credential(
            session,
            subject_id=subject,
            level=Level.LIGHT,
            openid=openid,
            device_id=f"{openid}-phone",
            now=now,
        )
        if previous is None:
            return None
        return record_takeover(session, previous, issued.credential_id, "Pixel 8", now).takeover_id


def _endings(db: Any) -> list[tuple[str, str, str | None]]:
    with db.transaction() as session:
        rows = session.scalars(select(Credential).order_by(Credential.issued_at)).all()
        return [(row.openid, row.status, row.reason) for row in rows]


def test_one_takeover_a_day_and_the_error_says_when_it_resets(app: Any, db: Any) -> None:
    subject = add_record(app)
    assert _enrol(db, subject, "o-holder", T0) is None
    assert _enrol(db, subject, "o-holder", T0 + dt.timedelta(minutes=5)) is None  # own re-issue
    assert _enrol(db, subject, "o-second", T0 + dt.timedelta(hours=1)) is not None
    # The new holder re-enrolling is not a takeover, whatever the count.
    assert _enrol(db, subject, "o-second", T0 + dt.timedelta(hours=2)) is None

    with pytest.raises(ReissueLimited) as refused:
        _enrol(db, subject, "o-third", T0 + dt.timedelta(hours=3))
    resets_at = T0 + dt.timedelta(hours=1, days=1)
    assert refused.value.status == 429 and refused.value.code == "reissue_limited"
    assert refused.value.details == {"limit": 1, "resets_at": resets_at.isoformat()}
    assert refused.value.headers["Retry-After"] == str(22 * 3600)
    with pytest.raises(ReissueLimited):
        _enrol(db, subject, "o-third", resets_at - dt.timedelta(seconds=1))
    assert _enrol(db, subject, "o-third", resets_at) is not None

    assert _endings(db) == [
        ("o-holder", "superseded", "reissued"),
        ("o-holder", "superseded", "reissued_to_other_account"),
        ("o-second", "superseded", "reissued"),
        ("o-second", "superseded", "reissued_to_other_account"),
        ("o-third", "active", None),
    ]


def test_the_daily_limit_is_configurable(app: Any, db: Any) -> None:
    subject = add_record(app)
    _enrol(db, subject, "o-a", T0)
    assert _enrol(db, subject, "o-b", T0 + dt.timedelta(hours=1), per_day=2) is not None
    assert _enrol(db, subject, "o-c", T0 + dt.timedelta(hours=2), per_day=2) is not None
    with pytest.raises(ReissueLimited) as refused:
        _enrol(db, subject, "o-d", T0 + dt.timedelta(hours=3), per_day=2)
    # Two in the window: the next slot opens when the older of them leaves it.
    assert refused.value.details["resets_at"] == (T0 + dt.timedelta(hours=1, days=1)).isoformat()


def test_a_dispute_blocks_every_light_enrolment_until_lifted(app: Any, db: Any) -> None:
    subject = add_record(app)
    _enrol(db, subject, "o-holder", T0)
    takeover_id = _enrol(db, subject, "o-intruder", T0 + dt.timedelta(minutes=1))
    assert takeover_id is not None
    with db.transaction() as session, pytest.raises(TakeoverNotFound):
        dispute_takeover(session, takeover_id, "o-intruder")
    with db.transaction() as session:
        result = dispute_takeover(session, takeover_id, "o-holder", T0 + dt.timedelta(minutes=2))
    assert result.revoked == 1
    assert _endings(db)[-1] == ("o-intruder", "revoked", "disputed")
    for openid in ("o-holder", "o-intruder", "o-someone-else"):
        with pytest.raises(EnrolmentBlocked):
            _enrol(db, subject, openid, T0 + dt.timedelta(days=30))
    with db.transaction() as session:
        assert lift_light_enrolment_block(session, subject) is True
        assert lift_light_enrolment_block(session, subject) is False
    assert _enrol(db, subject, "o-holder", T0 + dt.timedelta(days=30)) is None
