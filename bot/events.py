"""Domain events: what happened in the domain, recorded in the transaction that made it happen.

Domain packages (credentials, devices, identity, merchants, payments, and later terminals)
call :func:`record` with an event while they change the database. Adapters subscribe to event
types on the app's :class:`EventBus` (``bot/wechat`` turns them into outbox rows: card-pack
updates and subscribe messages). A domain package never knows who listens, so adding a listener
or a new event never touches the service that records it.

Invariants:
- :func:`record` only appends the event to the session (``session.info``). The bus that was
  attached to the session factory (:meth:`EventBus.attach`, once per app) hands the pending
  events to their subscribers in ``before_commit``, in the order they were recorded, with the
  same session: whatever a subscriber writes (an outbox row) commits with the change, or rolls
  back with it. A subscriber that raises aborts the commit, so the change is never kept without
  its consequences. Events recorded by a subscriber are dispatched in the same pass.
- A rolled-back transaction drops its pending events: nothing is dispatched for a change that
  did not happen.
- :func:`after_commit` callbacks (cache invalidation of the change just made) run once the
  transaction has committed, never after a rollback.
- Events are frozen dataclasses holding ids and small values, never secrets, ID numbers or
  tokens. Subscribers must be quick and local (a few inserts); anything that leaves the process
  goes through an outbox and runs after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.vocab import CredentialReason, CredentialStatus, Level

log = logging.getLogger(__name__)
_PENDING = "wangzheng.events.pending"
_BUS = "wangzheng.events.bus"
_AFTER_COMMIT = "wangzheng.events.after_commit"


@dataclass(frozen=True)
class DomainEvent:
    """Base of every domain event."""


@dataclass(frozen=True)
class CredentialIssued(DomainEvent):
    """A credential became active for ``openid`` (light enrolment, or a terminal).

    ``superseded_ids``: the active credentials this issuance ended (the holder's own, or the
    person's credential held by another account), for the citizen's history.
    """

    credential_id: str
    subject_id: int
    openid: str
    level: Level
    card_code: str | None
    superseded_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialEnded(DomainEvent):
    """An active credential ended: superseded by a new one, or revoked, with its reason."""

    credential_id: str
    openid: str
    status: CredentialStatus
    reason: CredentialReason
    card_code: str | None


@dataclass(frozen=True)
class DeviceChanged(DomainEvent):
    """The citizen signed in on another device; ``previous_device_id`` is signed out.

    The models are what the mini-program reported at each device's login (maybe unknown).
    """

    citizen_id: int
    openid: str
    previous_device_id: str
    device_id: str
    device_model: str | None = None
    previous_device_model: str | None = None


@dataclass(frozen=True)
class CardReportedLost(DomainEvent):
    """A person's ID card was reported lost (``bot.identity.lost``).

    ``actor`` is ``citizen`` or ``authority``; ``citizen_id`` is the reporting citizen (None for
    the authority); ``revoked_ids`` are the credentials the report ended (maybe none: a repeat).
    """

    subject_id: int
    actor: str
    citizen_id: int | None
    newly_reported: bool
    revoked_ids: tuple[str, ...]


@dataclass(frozen=True)
class CredentialTakenOver(DomainEvent):
    """A person's credential moved to another account (``bot.identity.takeover``)."""

    takeover_id: str
    previous_openid: str
    credential_id: str
    device_model: str | None
    occurred_at: dt.datetime


@dataclass(frozen=True)
class MerchantVerified(DomainEvent):
    """A merchant accepted the citizen's presentation (recorded with its audit row).

    ``citizen_opted_in``: the citizen asked to be told of each verification.
    """

    citizen_id: int
    credential_id: str
    merchant_name: str
    citizen_opted_in: bool


@dataclass(frozen=True)
class BillPaid(DomainEvent):
    """A verified WeChat Pay notification settled the citizen's bill (``bot.payments``)."""

    citizen_id: int
    bill_id: str
    item_name: str
    amount_fen: int


@dataclass(frozen=True)
class BillRefunded(DomainEvent):
    """A refund of (part of) the citizen's bill reached them (``bot.payments``)."""

    citizen_id: int
    bill_id: str
    item_name: str
    refund_fen: int


@dataclass(frozen=True)
class AccountErased(DomainEvent):
    """A citizen erased their account (``bot.devices.erasure``); ``unionid`` is the link any
    adapter holds to them, so it can drop it in the same transaction."""

    citizen_id: int
    unionid: str | None


@dataclass(frozen=True)
class UnlockPreferenceChanged(DomainEvent):
    """The citizen switched "unlock with fingerprint" (WeChat SOTER) on or off.

    ``method``: the biometric the unlock asks for (``fingerprint`` or ``face``);
    ``device_model``: the phone the change was made on, when known.
    """

    citizen_id: int
    enabled: bool
    method: str
    device_model: str | None


@dataclass(frozen=True)
class UnlockVerified(DomainEvent):
    """A SOTER biometric unlock was verified (signature, our challenge, unused and fresh)."""

    citizen_id: int
    method: str
    device_model: str | None


E = TypeVar("E", bound=DomainEvent)
Subscriber = Callable[[Session, Any], None]


class NoEventBus(RuntimeError):
    """An event was recorded on a session whose factory has no bus: it would be lost."""


def record(session: Session, domain_event: DomainEvent) -> None:
    """Record ``domain_event`` in the session's transaction; subscribers see it before commit.

    Raises :class:`NoEventBus` for a session made by a factory no bus is attached to, rather
    than losing the event.
    """
    if _BUS not in session.info:
        raise NoEventBus(f"{type(domain_event).__name__} recorded on a session without a bus")
    session.info.setdefault(_PENDING, []).append(domain_event)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this session's transaction has committed (not if it rolls back).

    For effects on state outside the database that must follow the change, such as dropping a
    cache entry the change made stale. A failing callback is logged; the commit stands.
    """
    if _BUS not in session.info:
        raise NoEventBus("after_commit on a session without a bus")
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def pending(session: Session) -> list[DomainEvent]:
    """The events recorded in this session and not dispatched yet (a copy)."""
    return list(session.info.get(_PENDING, ()))


class EventBus:
    """Subscribers by event type; one per app, attached to that app's session factory."""

    def __init__(self) -> None:
        self._subscribers: dict[type[DomainEvent], list[Subscriber]] = defaultdict(list)

    def subscribe(self, event_type: type[E], subscriber: Callable[[Session, E], None]) -> None:
        """Call ``subscriber(session, event)`` for every ``event_type`` event, before commit."""
        self._subscribers[event_type].append(subscriber)

    def subscribers(self, event_type: type[DomainEvent]) -> tuple[Subscriber, ...]:
        """The subscribers of exactly ``event_type`` (for docs and tests)."""
        return tuple(self._subscribers.get(event_type, ()))

    def attach(self, session_factory: sessionmaker[Session]) -> None:
        """Dispatch the pending events of every session this factory makes, before it commits."""
        session_factory.configure(info={**session_factory.kw.get("info", {}), _BUS: self})
        event.listen(session_factory, "before_commit", self.dispatch)
        event.listen(session_factory, "after_commit", _run_after_commit)
        event.listen(session_factory, "after_rollback", _drop_pending)

    def dispatch(self, session: Session) -> None:
        """Hand each pending event to its subscribers (events they record are handled too)."""
        queue: list[DomainEvent] = session.info.get(_PENDING, [])
        while queue:
            domain_event = queue.pop(0)
            for subscriber in self._subscribers.get(type(domain_event), ()):
                subscriber(session, domain_event)


def _run_after_commit(session: Session) -> None:
    """Run the committed transaction's callbacks, each at most once."""
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:  # the change is committed; a stale cache entry expires by itself
            log.exception("after-commit callback failed")


def _drop_pending(session: Session) -> None:
    """A rolled-back transaction's events and callbacks never happened."""
    session.info.pop(_PENDING, None)
    session.info.pop(_AFTER_COMMIT, None)
