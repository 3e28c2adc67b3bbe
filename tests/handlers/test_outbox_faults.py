"""WeChat failing during the outbox send of a verification notice (issue 13, faults).

The notice to the citizen is queued in the verify transaction and sent after commit. When WeChat
times out or answers an error at that moment, the verification has already happened: the merchant
gets ``valid``, the token is marked used with its audit row, and the notice stays pending for a
retry. Nothing is sent twice and nothing is lost.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.extensions import database
from bot.wechat.config import DEV_TEMPLATES
from bot.wechat.emulator.server import Emulator
from storage.models.citizen import Citizen
from storage.models.outbox import OutboxMessage
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify

SEND = "/cgi-bin/message/subscribe/send"
# The WeChat client timeout is 1 s in tests; the send happens after commit in the request.
REQUEST_BOUND_S = 3.0


def _fault(emulator: Emulator, fault: str) -> None:
    if fault == "timeout":
        emulator.delay(SEND, 1.5)
    else:
        emulator.fail(SEND, -1)  # "system busy"


@pytest.mark.parametrize("fault", ["timeout", "error"])
def test_a_failed_notice_never_undoes_the_verification(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any, fault: str
) -> None:
    citizen = enrolled(wechat_app, login)
    with database(wechat_app).transaction() as session:
        session.execute(update(Citizen).values(notify_on_verification=True))
    key = merchant_key(wechat_app)
    token = fetch_token(wechat_client, citizen.access_token)
    issued_notices = len(emulator.messages)  # the set-up's "credential issued", already sent

    _fault(emulator, fault)
    started = time.monotonic()
    status, body = verify(wechat_client, key, token)
    elapsed = time.monotonic() - started

    assert (status, body["result"]) == (200, "valid")
    assert elapsed < REQUEST_BOUND_S, elapsed
    with database(wechat_app).transaction() as session:
        marked = session.scalar(
            select(func.count())
            .select_from(VerificationAudit)
            .where(VerificationAudit.result == "valid", VerificationAudit.jti_digest.is_not(None))
        )
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent")))
    assert marked == 1  # the valid answer has its audit row, which carries the single-use mark
    ((row_status, attempts, error),) = [(r.status, r.attempts, r.last_error) for r in rows]
    assert (row_status, attempts) == ("pending", 1)
    assert error and error.startswith("wechat_unavailable")
    assert len(emulator.messages) == issued_notices
    # The same token is not accepted a second time, whatever happened to the notice.
    assert verify(wechat_client, key, token)[1]["result"] == "invalid"

    # WeChat answers again: the retry sends the notice once.
    with database(wechat_app).transaction() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
    output = wechat_app.test_cli_runner().invoke(args=["wechat", "flush-outbox"]).output
    assert "sent=1" in output
    assert len(emulator.messages) == issued_notices + 1
    assert emulator.messages[-1]["template_id"] == DEV_TEMPLATES["verified_by_merchant"]
