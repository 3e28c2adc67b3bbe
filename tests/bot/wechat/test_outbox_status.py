"""Dead letters are visible (issue 12): ``/metrics`` and ``flask wechat outbox status``.

WeChat keeps failing; the row retries with backoff up to the bound, then is ``dead``. The gauge is
read from the database at each scrape, so every worker reports the same count.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bot.extensions import database
from bot.wechat import outbox
from bot.wechat.app import outbox_dispatcher
from bot.wechat.emulator.server import Emulator
from bot.wechat.notify import enqueue_notification
from storage.models.outbox import OutboxMessage

SEND = "/cgi-bin/message/subscribe/send"
DEAD = 'wangzheng_outbox_messages{kind="subscribe_message",status="dead"} 1.0'


def test_a_dead_letter_shows_in_metrics_and_the_cli(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    citizen_id = login("o-dead-letter", "device-dead-1").citizen_id
    emulator.fail(SEND, -1, times=outbox.MAX_ATTEMPTS)
    with database(wechat_app).transaction() as session:
        enqueue_notification(session, citizen_id, "credential_issued")  # fails after commit
    dispatcher = outbox_dispatcher(wechat_app)
    for _ in range(outbox.MAX_ATTEMPTS - 1):  # every retry, each as soon as it is due
        with database(wechat_app).transaction() as session:
            session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
        dispatcher.flush()
    assert DEAD in wechat_client.get("/metrics").get_data(as_text=True)
    assert emulator.messages == []
    output = wechat_app.test_cli_runner().invoke(args=["wechat", "outbox", "status"]).output
    assert "subscribe_message dead=1" in output
    assert f"attempts={outbox.MAX_ATTEMPTS} last_error=wechat_unavailable -1" in output
