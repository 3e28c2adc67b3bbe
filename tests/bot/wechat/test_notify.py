"""Subscribe notifications through the outbox: after commit, retried, opt-in respected."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.extensions import database
from bot.wechat import outbox
from bot.wechat.app import outbox_dispatcher
from bot.wechat.config import DEV_TEMPLATES
from bot.wechat.emulator.server import Emulator
from bot.wechat.notify import enqueue_notification
from storage.models.citizen import Citizen
from storage.models.outbox import OutboxMessage

SEND = "/cgi-bin/message/subscribe/send"


def _citizen(app: Any, login: Any, notify_on_verification: bool = False) -> int:
    tokens = login("o-notified", "device-notify-1")
    with database(app).transaction() as session:
        citizen = session.get(Citizen, tokens.citizen_id)
        assert citizen is not None
        citizen.notify_on_verification = notify_on_verification
    return int(tokens.citizen_id)


def _enqueue(app: Any, citizen_id: int, kind: str, data: dict[str, str] | None = None) -> bool:
    with app.app_context(), database(app).transaction() as session:
        return enqueue_notification(session, citizen_id, kind, data)


def _rows(app: Any) -> list[OutboxMessage]:
    with database(app).transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_credential_issued_is_sent_after_commit(
    wechat_app: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    citizen_id = _citizen(wechat_app, login)
    assert _enqueue(wechat_app, citizen_id, "credential_issued", {"thing3": "一级网证"})
    (message,) = emulator.messages
    assert message["touser"] == "o-notified"
    assert message["template_id"] == DEV_TEMPLATES["credential_issued"]
    assert message["page"] == "pages/pass/index"
    assert message["data"]["thing1"]["value"] == "网证已领取"
    assert message["data"]["thing3"]["value"] == "一级网证"
    assert [row.status for row in _rows(wechat_app)] == ["sent"]


def test_verification_notice_respects_the_setting(
    wechat_app: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    citizen_id = _citizen(wechat_app, login, notify_on_verification=False)
    assert not _enqueue(wechat_app, citizen_id, "verified_by_merchant")
    assert _rows(wechat_app) == [] and emulator.messages == []
    with database(wechat_app).transaction() as session:
        session.execute(update(Citizen).values(notify_on_verification=True))
    assert _enqueue(wechat_app, citizen_id, "verified_by_merchant")
    assert len(emulator.messages) == 1


def test_failures_are_retried_with_backoff(
    wechat_app: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    citizen_id = _citizen(wechat_app, login)
    emulator.fail(SEND, -1)
    _enqueue(wechat_app, citizen_id, "credential_removed")
    (row,) = _rows(wechat_app)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "wechat_unavailable -1")
    assert row.next_attempt_at > dt.datetime.now(dt.UTC)
    runner = wechat_app.test_cli_runner()
    assert "sent=0" in runner.invoke(args=["wechat", "flush-outbox"]).output  # not due yet
    with database(wechat_app).transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(OutboxMessage).values(next_attempt_at=past))
    assert "sent=1" in runner.invoke(args=["wechat", "flush-outbox"]).output
    assert len(emulator.messages) == 1


def test_refusal_is_dropped_and_exhaustion_is_dead(
    wechat_app: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    citizen_id = _citizen(wechat_app, login)
    emulator.fail(SEND, 43101)  # the user did not accept this template
    _enqueue(wechat_app, citizen_id, "credential_issued")
    emulator.fail(SEND, 45009, times=2)  # the send after commit, then the last attempt
    with database(wechat_app).transaction() as session:
        enqueue_notification(session, citizen_id, "credential_issued")  # sent after commit: fails
    with database(wechat_app).transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .values(attempts=outbox.MAX_ATTEMPTS - 1, next_attempt_at=OutboxMessage.created_at)
        )
    result = outbox_dispatcher(wechat_app).flush()
    assert result.dead == 1
    assert [row.status for row in _rows(wechat_app)] == ["dropped", "dead"]


def test_backoff_grows_and_is_capped() -> None:
    delays = [outbox.backoff(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [10, 20, 40, 80]
    assert max(delays) == 3600


def test_unknown_kind_is_a_programming_error(wechat_app: Any, login: Any) -> None:
    with pytest.raises(ValueError):
        _enqueue(wechat_app, _citizen(wechat_app, login), "birthday")


def test_thread_dispatch_delivers_in_the_background(
    wechat_app_config: dict[str, Any], make_app: Any, emulator: Emulator
) -> None:
    from bot.devices.sessions import open_session

    app = make_app(wechat_outbox_dispatch="thread")  # on top of wechat_app_config
    with database(app).transaction() as session:
        citizen_id = open_session(
            session,
            openid="o-bg",
            unionid=None,
            device_id="device-bg-1",
        ).citizen_id
    _enqueue(app, citizen_id, "credential_issued")
    deadline = time.monotonic() + 5
    while not emulator.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(emulator.messages) == 1
    deadline = time.monotonic() + 5
    while _rows(app)[0].status != "sent" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _rows(app)[0].status == "sent"
