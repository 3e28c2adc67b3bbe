"""The outbox: WeChat calls queued in the caller's transaction and delivered after it commits.

Choice: a table (:class:`~storage.models.outbox.OutboxMessage`) plus a small in-process
dispatcher, rather than a task queue, because the embedded default has no broker.

Invariants:
- :func:`enqueue` only adds a row in the caller's session; nothing leaves the process until
  that transaction commits (a rolled-back operation sends nothing, never half of something).
- After commit, :func:`kick` runs :func:`flush` according to ``WANGZHENG_WECHAT_OUTBOX_DISPATCH``:
  ``thread`` (default: one background thread per process, so responses never wait on WeChat),
  ``sync`` (inline, for tests and scripts) or ``off`` (only ``flask wechat flush-outbox``).
- Delivery is at-least-once: a row is claimed by a compare-and-set on ``attempts``, so
  concurrent flushers never send it twice at once; failures retry with exponential backoff
  (10 s doubling, capped at one hour) up to :data:`MAX_ATTEMPTS`, then the row is ``dead``.
  Errors that cannot succeed on retry mark it ``dropped``. Run ``flask wechat flush-outbox``
  from cron as the safety net for rows whose process died.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from bot.wechat.errors import WeChatError
from storage.models.base import utcnow
from storage.models.outbox import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(seconds=60)
_ARMED = "wangzheng.outbox.armed"
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wechat-outbox")
_timer_lock = threading.Lock()
_timer: threading.Timer | None = None

Deliver = Callable[[Flask, dict[str, Any]], str]
# kind -> deliver(app, payload) returning "sent" or "dropped"; raising WeChatError retries.
DELIVERERS: dict[str, Deliver] = {}


class Dropped(Exception):
    """Raised by a deliverer when retrying cannot help (the row becomes ``dropped``)."""


@dataclass(frozen=True)
class FlushResult:
    """What one :func:`flush` pass did."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    dead: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed ones."""
    return dt.timedelta(seconds=min(3600, 10 * 2 ** max(0, attempts - 1)))


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """Queue a call in the caller's transaction; it is sent after that transaction commits."""
    if kind not in DELIVERERS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    row = OutboxMessage(kind=kind, payload=json.dumps(payload, ensure_ascii=False))
    session.add(row)
    session.flush()
    if has_app_context() and not session.info.get(_ARMED):
        session.info[_ARMED] = True
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def after_commit(committed: Session) -> None:
            committed.info.pop(_ARMED, None)
            kick(app)

        event.listen(session, "after_commit", after_commit, once=True)
    return row


def kick(app: Flask) -> None:
    """Deliver due rows now, in the way the configuration asks for."""
    from bot.wechat.app import wechat_config

    mode = wechat_config(app).outbox_dispatch
    if mode == "sync":
        _flush_quietly(app)
    elif mode == "thread":
        _executor.submit(_flush_quietly, app)


def _flush_quietly(app: Flask) -> None:
    """Background entry point: a failure is logged, never raised into the executor."""
    try:
        flush(app)
    except Exception:  # logged; the row stays pending and is retried later
        log.exception("outbox flush failed")


def _schedule(app: Flask, delay_s: float) -> None:
    """Arm one in-process timer for the next retry (thread mode only)."""
    global _timer
    with _timer_lock:
        if _timer is not None and _timer.is_alive():
            return
        _timer = threading.Timer(delay_s, lambda: _executor.submit(_flush_quietly, app))
        _timer.daemon = True
        _timer.start()


def _claim(app: Flask, row_id: int, seen_attempts: int) -> OutboxMessage | None:
    """Take a row for this flusher, or None when another one got it first."""
    from bot.extensions import database

    now = utcnow()
    with database(app).transaction() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.status == "pending",
                OutboxMessage.attempts == seen_attempts,
            )
            .values(attempts=seen_attempts + 1, next_attempt_at=now + LEASE)
        )
        if not getattr(result, "rowcount", 0):
            return None
        return session.get(OutboxMessage, row_id)


def _finish(app: Flask, row_id: int, **values: Any) -> None:
    from bot.extensions import database

    with database(app).transaction() as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))


def _deliver_one(app: Flask, row: OutboxMessage) -> str:
    """Send one claimed row and record the outcome; returns the new status."""
    now = utcnow()
    try:
        status = DELIVERERS[row.kind](app, json.loads(row.payload))
    except Dropped as exc:
        _finish(app, row.id, status="dropped", last_error=str(exc)[:200])
        return "dropped"
    except WeChatError as exc:
        errcode = exc.details.get("errcode", "")
        reason = f"{exc.code} {errcode}".strip()
        if row.attempts >= MAX_ATTEMPTS:
            _finish(app, row.id, status="dead", last_error=reason)
            log.warning("outbox %s #%s dead after %s attempts", row.kind, row.id, row.attempts)
            return "dead"
        _finish(app, row.id, next_attempt_at=now + backoff(row.attempts), last_error=reason)
        return "retried"
    _finish(app, row.id, status=status, sent_at=now, last_error=None)
    return status


def flush(app: Flask, limit: int = 100) -> FlushResult:
    """Deliver every due pending row (at most ``limit``)."""
    from bot.extensions import database
    from bot.wechat import cards, notify  # noqa: F401 - they register their deliverers

    now = utcnow()
    with database(app).transaction() as session:
        due = session.execute(
            select(OutboxMessage.id, OutboxMessage.attempts)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    counts = {"sent": 0, "retried": 0, "dropped": 0, "dead": 0}
    for row_id, attempts in due:
        row = _claim(app, row_id, attempts)
        if row is not None:
            counts[_deliver_one(app, row)] += 1
    if counts["retried"]:
        from bot.wechat.app import wechat_config

        if wechat_config(app).outbox_dispatch == "thread":
            _schedule(app, backoff(1).total_seconds())
    return FlushResult(**counts)
