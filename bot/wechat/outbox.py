"""The outbox: WeChat calls queued in the caller's transaction and delivered after it commits.

Choice: a table (:class:`~storage.models.outbox.OutboxMessage`) plus a small in-process
dispatcher, rather than a task queue, because the embedded default has no broker.

Invariants:
- :func:`enqueue` only adds a row in the caller's session; nothing leaves the process until
  that transaction commits (a rolled-back operation sends nothing, never half of something).
- Each app builds one :class:`OutboxDispatcher` explicitly (``bot.wechat.app.init_app``) with its
  database, WeChat configuration, API client and the deliverer of each kind, and attaches it to
  that database's sessions: after a commit that queued rows, it runs :meth:`~OutboxDispatcher.flush`
  according to ``WANGZHENG_WECHAT_OUTBOX_DISPATCH``: ``thread`` (default: one background thread
  per process, so responses never wait on WeChat), ``sync`` (inline, for tests and scripts) or
  ``off`` (only ``flask wechat flush-outbox``). Nothing here reads ``current_app``.
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from bot.wechat.client import WeChatApi
from bot.wechat.config import WeChatConfig
from bot.wechat.errors import WeChatError
from storage.db import Database
from storage.models.base import utcnow
from storage.models.outbox import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(seconds=60)
_QUEUED = "wangzheng.outbox.queued"
FOLLOWER_INFO = "follower_info"
KINDS = ("card_unavailable", "subscribe_message", FOLLOWER_INFO)
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wechat-outbox")
_timer_lock = threading.Lock()
_timer: threading.Timer | None = None

# deliver(dispatcher, payload) returns "sent"; raising Dropped drops, WeChatError retries.
Deliver = Callable[["OutboxDispatcher", dict[str, Any]], str]


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
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    row = OutboxMessage(kind=kind, payload=json.dumps(payload, ensure_ascii=False))
    session.add(row)
    session.flush()
    session.info[_QUEUED] = True
    return row


class OutboxDispatcher:
    """Delivers one app's outbox: its database, WeChat configuration, client and deliverers."""

    def __init__(
        self,
        database: Database,
        config: WeChatConfig,
        api: Callable[[], WeChatApi],
        deliverers: dict[str, Deliver],
    ) -> None:
        missing = set(KINDS) - set(deliverers)
        if missing:
            raise ValueError(f"no deliverer for outbox kinds {sorted(missing)}")
        self.database = database
        self.config = config
        self.api = api
        self.deliverers = dict(deliverers)

    def attach(self) -> None:
        """Kick delivery after every commit of this database's sessions that queued a row."""
        factory = self.database.session_factory
        event.listen(factory, "after_commit", self._after_commit)
        event.listen(factory, "after_rollback", _forget_queued)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(_QUEUED, False):
            self.kick()

    def kick(self) -> None:
        """Deliver due rows now, in the way the configuration asks for."""
        mode = self.config.outbox_dispatch
        if mode == "sync":
            self._flush_quietly()
        elif mode == "thread":
            _executor.submit(self._flush_quietly)

    def _flush_quietly(self) -> None:
        """Background entry point: a failure is logged, never raised into the executor."""
        try:
            self.flush()
        except Exception:  # logged; the row stays pending and is retried later
            log.exception("outbox flush failed")

    def _schedule(self, delay_s: float) -> None:
        """Arm one in-process timer for the next retry (thread mode only)."""
        global _timer
        with _timer_lock:
            if _timer is not None and _timer.is_alive():
                return
            _timer = threading.Timer(delay_s, lambda: _executor.submit(self._flush_quietly))
            _timer.daemon = True
            _timer.start()

    def _claim(self, row_id: int, seen_attempts: int) -> OutboxMessage | None:
        """Take a row for this flusher, or None when another one got it first."""
        now = utcnow()
        with self.database.transaction() as session:
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

    def _finish(self, row_id: int, **values: Any) -> None:
        with self.database.transaction() as session:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values)
            )

    def _deliver_one(self, row: OutboxMessage) -> str:
        """Send one claimed row and record the outcome; returns the new status."""
        now = utcnow()
        try:
            status = self.deliverers[row.kind](self, json.loads(row.payload))
        except Dropped as exc:
            self._finish(row.id, status="dropped", last_error=str(exc)[:200])
            return "dropped"
        except WeChatError as exc:
            errcode = exc.details.get("errcode", "")
            reason = f"{exc.code} {errcode}".strip()
            if row.attempts >= MAX_ATTEMPTS:
                self._finish(row.id, status="dead", last_error=reason)
                log.warning("outbox %s #%s dead after %s attempts", row.kind, row.id, row.attempts)
                return "dead"
            self._finish(row.id, next_attempt_at=now + backoff(row.attempts), last_error=reason)
            return "retried"
        self._finish(row.id, status=status, sent_at=now, last_error=None)
        return status

    def flush(self, limit: int = 100) -> FlushResult:
        """Deliver every due pending row (at most ``limit``)."""
        now = utcnow()
        with self.database.transaction() as session:
            due = session.execute(
                select(OutboxMessage.id, OutboxMessage.attempts)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).all()
        counts = {"sent": 0, "retried": 0, "dropped": 0, "dead": 0}
        for row_id, attempts in due:
            row = self._claim(row_id, attempts)
            if row is not None:
                counts[self._deliver_one(row)] += 1
        if counts["retried"] and self.config.outbox_dispatch == "thread":
            self._schedule(backoff(1).total_seconds())
        return FlushResult(**counts)


@dataclass(frozen=True)
class OutboxCount:
    """How many rows of one kind are in one status."""

    kind: str
    status: str
    count: int


def outbox_status(database: Database) -> list[OutboxCount]:
    """Rows by kind and status (``dead``: given up after :data:`MAX_ATTEMPTS` tries)."""
    with database.transaction() as session:
        rows = session.execute(
            select(OutboxMessage.kind, OutboxMessage.status, func.count())
            .group_by(OutboxMessage.kind, OutboxMessage.status)
            .order_by(OutboxMessage.kind, OutboxMessage.status)
        ).all()
    return [OutboxCount(kind, status, int(count)) for kind, status, count in rows]


def dead_letters(database: Database, limit: int = 20) -> list[OutboxMessage]:
    """The newest rows given up on, for an operator to read (payloads hold no secrets)."""
    with database.transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "dead")
                .order_by(OutboxMessage.id.desc())
                .limit(limit)
            )
        )


class OutboxCollector(Collector):
    """``wangzheng_outbox_messages{kind,status}``, read from the database at each scrape, so
    every worker reports the same shared truth (dead letters included)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family, a sample per kind and status present."""
        family = GaugeMetricFamily(
            "wangzheng_outbox_messages",
            "Outbox rows by kind and status (dead: given up after the retry bound)",
            labels=["kind", "status"],
        )
        for row in outbox_status(self.database):
            family.add_metric([row.kind, row.status], row.count)
        yield family


def _forget_queued(session: Session) -> None:
    """Rows of a rolled-back transaction were never written: nothing to kick."""
    session.info.pop(_QUEUED, None)
