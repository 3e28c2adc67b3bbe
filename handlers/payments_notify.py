"""``POST /api/v1/payments/notify``: WeChat Pay v3 payment and refund notifications.

Invariants:
- The raw body is handed to the gateway untouched (the signature covers its exact bytes); no
  JSON parsing happens before verification.
- Answers are WeChat Pay's: 200 ``{"code": "SUCCESS", "message": "成功"}`` when applied or
  already applied (WeChat then stops redelivering); 4xx ``{"code": "FAIL", "message": ...}``
  when refused, the message naming the failed check (bad_signature, unknown_serial,
  stale_timestamp, amount_mismatch, unknown_order ...), so WeChat retries and we log it.
- Time comes from the app clock; nothing here reads the citizen's session.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from apiflask import APIBlueprint
from flask import request

from bot.extensions import clock, database, settings
from bot.payments.callbacks import handle_notification
from bot.payments.errors import CallbackRejected, PaymentsDisabled
from bot.payments.gateway import payment_gateway
from handlers.schemas import Out

log = logging.getLogger(__name__)
payments_notify = APIBlueprint("payments_notify", __name__, tag="WeChat Pay")
MAX_NOTIFY_BYTES = 16 * 1024


class NotifyAnswer(Out):
    """WeChat Pay's answer format (not our error envelope: WeChat Pay reads ``code``)."""

    code: Literal["SUCCESS", "FAIL"]
    message: str


CONTENT: dict[str, dict[str, Any]] = {
    "application/json": {"schema": {"$ref": "#/components/schemas/NotifyAnswer"}}
}
RESPONSES: dict[int | str, Any] = {
    400: {"description": "FAIL: malformed", "content": CONTENT},
    401: {"description": "FAIL: signature, serial or timestamp refused", "content": CONTENT},
    404: {"description": "FAIL: unknown order or refund, or payments off", "content": CONTENT},
    409: {"description": "FAIL: content does not match our order", "content": CONTENT},
    413: {"description": "FAIL: body too large", "content": CONTENT},
}


@payments_notify.post("/api/v1/payments/notify")
@payments_notify.output(NotifyAnswer, description="SUCCESS: applied (or already applied)")
@payments_notify.doc(
    summary="WeChat Pay notification",
    description="Called by WeChat Pay, signed with its platform key; not for clients.",
    responses=RESPONSES,
)
def notify() -> Any:
    """Verify, decrypt and apply one notification; answer in WeChat Pay's format."""
    body = request.get_data(cache=False)
    if len(body) > MAX_NOTIFY_BYTES:
        return {"code": "FAIL", "message": "payload_too_large"}, 413
    try:
        gateway = payment_gateway()
    except PaymentsDisabled:
        return {"code": "FAIL", "message": "payments_disabled"}, 404
    try:
        outcome = handle_notification(
            database(),
            gateway,
            {name: value for name, value in request.headers.items()},
            body,
            now=clock()(),
            window_s=settings().payments_notify_window_s,
        )
    except CallbackRejected as refused:
        log.warning("wechat pay notification refused: %s", refused.code)
        status = 409 if refused.code.endswith("_mismatch") else refused.status
        return {"code": "FAIL", "message": refused.code}, status
    log.info("wechat pay notification: %s", outcome)
    return {"code": "SUCCESS", "message": "成功"}, 200
