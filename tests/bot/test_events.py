"""Domain events: recorded in the transaction of their change, dispatched before it commits.

Also the explicit outbox dispatcher: a revocation committed with no app context still leaves
for WeChat, because the dispatcher belongs to the app's database, not to ``current_app``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.credentials.service import issue_credential, new_card_code, revoke_credential
from bot.events import (
    CredentialEnded,
    CredentialIssued,
    DeviceChanged,
    NoEventBus,
    after_commit,
    record,
)
from bot.extensions import database, event_bus
from bot.vocab import CredentialReason, CredentialStatus, Level
from bot.wechat.emulator.server import Emulator
from storage.models.credential import Credential
from storage.models.outbox import OutboxMessage
from tests.registry_factories import add_record


def _issue(session: Session, subject: int, openid: str, device_id: str) -> None:
    issue_credential(
        session, subject_id=subject, level=Level.LIGHT, openid=openid, device_id=device_id
    )


def _count(app: Any, model: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_events_reach_subscribers_in_order_before_commit(app: Any) -> None:
    subject = add_record(app)
    seen: list[tuple[str, bool]] = []

    def watch(session: Session, event: Any) -> None:
        in_transaction = session.in_transaction()
        seen.append((type(event).__name__, in_transaction))

    bus = event_bus(app)
    bus.subscribe(CredentialIssued, watch)
    bus.subscribe(CredentialEnded, watch)
    with database(app).transaction() as session:
        issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-1", device_id="d-1"
        )
        assert seen == []  # nothing before the commit
    assert seen == [("CredentialIssued", True)]
    with database(app).transaction() as session:
        issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-1", device_id="d-2"
        )
    assert seen[1:] == [("CredentialEnded", True), ("CredentialIssued", True)]


def test_a_new_subscriber_gets_the_issued_level_and_card_code(app: Any) -> None:
    """What a terminal package needs to turn the card's colour, without touching the service."""
    subject = add_record(app)
    issued: list[CredentialIssued] = []
    event_bus(app).subscribe(CredentialIssued, lambda _session, event: issued.append(event))
    code = new_card_code()
    with database(app).transaction() as session:
        credential = issue_credential(
            session,
            subject_id=subject,
            level=Level.UPGRADED,
            openid="o-2",
            device_id="d-1",
            card_code=code,
        )
    assert issued == [
        CredentialIssued(credential.credential_id, subject, "o-2", Level.UPGRADED, code)
    ]


def test_a_rolled_back_change_dispatches_nothing(app: Any) -> None:
    subject = add_record(app)
    seen: list[Any] = []
    event_bus(app).subscribe(CredentialIssued, lambda _session, event: seen.append(event))
    rows = _count(app, OutboxMessage)
    with pytest.raises(RuntimeError), database(app).transaction() as session:
        issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-3", device_id="d"
        )
        raise RuntimeError("the operation failed after the issue")
    assert seen == []
    assert _count(app, Credential) == 0
    assert _count(app, OutboxMessage) == rows
    # The same session factory's next transaction does not inherit the dropped events.
    with database(app).transaction() as session:
        session.execute(update(Credential).values(level=Level.LIGHT))
    assert seen == []


def test_a_failing_subscriber_aborts_the_change(app: Any) -> None:
    subject = add_record(app)

    def refuse(_session: Session, _event: CredentialIssued) -> None:
        raise RuntimeError("subscriber failed")

    event_bus(app).subscribe(CredentialIssued, refuse)
    with pytest.raises(RuntimeError, match="subscriber failed"):
        with database(app).transaction() as session:
            issue_credential(
                session, subject_id=subject, level=Level.LIGHT, openid="o-4", device_id="d"
            )
    assert _count(app, Credential) == 0  # never the change without its consequences


def test_subscriber_writes_commit_with_the_change(app: Any, login: Any) -> None:
    """The WeChat subscriber's outbox row exists exactly when the revocation committed."""
    tokens = login("o-5", "d-5")
    subject = add_record(app)
    with database(app).transaction() as session:
        credential = issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-5", device_id="d-5",
            card_code=new_card_code(),
        )  # fmt: skip
    before = _count(app, OutboxMessage)
    with pytest.raises(RuntimeError), database(app).transaction() as session:
        assert revoke_credential(session, credential.credential_id, CredentialReason.DISPUTED)
        raise RuntimeError("rolled back")
    assert _count(app, OutboxMessage) == before
    with database(app).transaction() as session:
        assert revoke_credential(session, credential.credential_id, CredentialReason.DISPUTED)
    assert _count(app, OutboxMessage) == before + 1  # the card code's unavailability
    assert tokens.citizen_id


def test_record_without_a_bus_is_refused(app: Any) -> None:
    with Session(database(app).engine) as session, pytest.raises(NoEventBus):
        record(session, DeviceChanged(1, "o", "old", "new"))
    with Session(database(app).engine) as session, pytest.raises(NoEventBus):
        after_commit(session, lambda: None)


def test_after_commit_runs_only_after_a_commit(app: Any) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), database(app).transaction() as session:
        after_commit(session, lambda: ran.append("rolled back"))
        raise RuntimeError("no commit")
    with database(app).transaction() as session:
        after_commit(session, lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]


def test_outbox_needs_no_app_context(wechat_app: Any, emulator: Emulator, login: Any) -> None:
    """The dispatcher is the app's own: a commit outside any app context still delivers."""
    login("o-6", "d-6")
    subject = add_record(wechat_app)
    code = new_card_code()
    with database(wechat_app).transaction() as session:
        credential = issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-6", device_id="d-6",
            card_code=code,
        )  # fmt: skip
    with database(wechat_app).transaction() as session:
        assert revoke_credential(session, credential.credential_id, CredentialReason.DISPUTED)
    (call,) = emulator.calls_to("/card/code/unavailable")
    assert (call.body or {})["code"] == code
    with database(wechat_app).transaction() as session:
        statuses = session.scalars(select(OutboxMessage.status)).all()
        ended = session.get(Credential, credential.credential_id)
    assert set(statuses) == {"sent"}
    assert ended is not None and ended.status == CredentialStatus.REVOKED
