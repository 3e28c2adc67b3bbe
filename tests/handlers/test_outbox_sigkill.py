"""A process killed (SIGKILL) after the revocation commits and before WeChat has the card removal
(issue 12, crashes). The outbox row committed with the revocation, so a later flush (the next
process, or ``flask wechat flush-outbox`` from cron) removes the card; a kill after WeChat answered
but before the row was marked sent makes a second call, which WeChat answers "already
unavailable" (40056), so the card is removed once as far as WeChat is concerned.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from bot.credentials.service import issue_credential, new_card_code
from bot.extensions import database
from bot.vocab import Level
from bot.wechat.app import outbox_dispatcher
from bot.wechat.config import DEV_CARD_ID
from bot.wechat.emulator.server import Emulator
from storage.models.credential import Credential
from storage.models.outbox import OutboxMessage
from tests.killed_child import run_until_killed
from tests.registry_factories import add_record

CHILD = r"""
import json, os, signal, sys
from sqlalchemy import event
from bot import create_app
from bot.credentials.service import revoke_credential
from bot.extensions import database
from bot.vocab import CredentialReason

config, credential_id, when = json.loads(sys.argv[1])
app = create_app(config)

@event.listens_for(database(app).engine, "after_cursor_execute")
def _die(conn, cursor, statement, *args):
    text = " ".join(statement.split()).upper()
    if not text.startswith("UPDATE OUTBOX_MESSAGES"):
        return
    assignments = text.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    claiming = "ATTEMPTS" in assignments  # the claim; the finish sets the status instead
    if (when == "before_send" and claiming) or (when == "after_send" and not claiming):
        os.kill(os.getpid(), signal.SIGKILL)

with database(app).transaction() as session:
    revoke_credential(session, credential_id, CredentialReason.DISPUTED)
print("survived")
"""


@pytest.mark.parametrize(("when", "calls"), [("before_send", 1), ("after_send", 2)])
def test_sigkill_between_commit_and_send(
    wechat_app: Any, wechat_app_config: dict[str, Any], emulator: Emulator, when: str, calls: int
) -> None:
    subject = add_record(wechat_app)
    code = new_card_code()
    emulator.add_card("o-killed", DEV_CARD_ID, code)
    with database(wechat_app).transaction() as session:
        credential = issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid="o-killed", device_id="d-k",
            card_code=code,
        ).credential_id  # fmt: skip
    config = {k: str(v) for k, v in wechat_app_config.items()}
    run_until_killed(CHILD, [config, credential, when])

    with database(wechat_app).transaction() as session:
        ended = session.get(Credential, credential)
        assert ended is not None and ended.status == "revoked"  # took effect locally at once
        (row,) = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "card_unavailable")
        ).all()
        assert row.status == "pending"
        # The next process: the claim's lease (if any) has run out.
        session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
    assert outbox_dispatcher(wechat_app).flush().sent == 1
    assert emulator.cards[code].status == "UNAVAILABLE"
    assert len(emulator.calls_to("/card/code/unavailable")) == calls
    assert outbox_dispatcher(wechat_app).flush().sent == 0  # nothing left, nothing sent again
