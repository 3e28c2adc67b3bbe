"""A replay is refused with nothing of its attempt kept but its own audit row (issue 14).

On PostgreSQL the single-use mark's insert travels with the ``COMMIT`` (``storage.pipelined``):
a replay is found only there, after the citizen's ``MerchantVerified`` event already queued its
"verified by a merchant" notice in the same transaction. That whole transaction must fail: the
citizen hears of the one real verification only, and the audit holds the valid use (marked)
and the replay (unmarked). On SQLite the insert reports the used mark at once; the answers and
rows are the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.extensions import database
from bot.wechat.config import DEV_TEMPLATES
from bot.wechat.emulator.server import Emulator
from storage.models.citizen import Citizen
from storage.models.outbox import OutboxMessage
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key, verify


def _audit(app: Any) -> list[tuple[str, str | None, bool]]:
    with database(app).transaction() as session:
        rows = session.execute(
            select(
                VerificationAudit.result, VerificationAudit.reason, VerificationAudit.jti_digest
            ).order_by(VerificationAudit.id)
        ).all()
    return [(result, reason, mark is not None) for result, reason, mark in rows]


def _notices(app: Any, emulator: Emulator) -> tuple[int, int]:
    """Verification notices queued (outbox rows, whatever their status) and sent to WeChat."""
    with database(app).transaction() as session:
        payloads = session.scalars(select(OutboxMessage.payload)).all()
    template = DEV_TEMPLATES["verified_by_merchant"]
    queued = sum("verified_by_merchant" in payload for payload in payloads)
    return queued, sum(message["template_id"] == template for message in emulator.messages)


def test_a_replay_of_an_opted_in_citizens_token_queues_no_second_notice(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    citizen = enrolled(wechat_app, login)
    with database(wechat_app).transaction() as session:
        session.execute(update(Citizen).values(notify_on_verification=True))
    key = merchant_key(wechat_app)
    token = fetch_token(wechat_client, citizen.access_token)

    assert verify(wechat_client, key, token)[1]["result"] == "valid"
    assert _audit(wechat_app) == [("valid", None, True)]  # committed before the answer
    assert _notices(wechat_app, emulator) == (1, 1)

    for _ in range(2):
        status, answer = verify(wechat_client, key, token)
        assert (status, answer) == (200, {"result": "invalid", "reason": "replayed"})
    assert _notices(wechat_app, emulator) == (1, 1)
    assert _audit(wechat_app) == [
        ("valid", None, True),
        ("invalid", "replayed", False),
        ("invalid", "replayed", False),
    ]


def test_a_replay_at_another_merchant_after_a_refusal_is_still_a_replay(
    app: Any, client: Any, login: Any
) -> None:
    citizen = enrolled(app, login)
    hotel, cafe = merchant_key(app), merchant_key(app)
    token = fetch_token(client, citizen.access_token)
    refused = verify(client, hotel, token, required_level="upgraded")[1]
    assert refused == {"result": "invalid", "reason": "level_too_low"}  # this use is spent too
    assert verify(client, cafe, token)[1] == {"result": "invalid", "reason": "replayed"}
    assert _audit(app) == [("invalid", "level_too_low", True), ("invalid", "replayed", False)]
