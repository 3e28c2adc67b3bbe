"""Writing the citizen's lifecycle log from the domain events, in the transaction of the change.

Invariants:
- Each subscriber runs before the commit of the transaction that recorded its event
  (:mod:`bot.events`) and only inserts :class:`~storage.models.citizen_event.CitizenEvent`
  rows there: the history line commits with the change, or not at all.
- A line belongs to exactly one citizen: the holder (by openid) of the credential concerned, or
  the citizen the event names. An event about an account that no longer exists (erased in the
  same transaction) writes nothing.
- A line's time (``occurred_at``) is read from the injected clock (the app's
  :class:`bot.clock.Clock`), like every other time-dependent rule, so a test that moves the
  clock sees it in the history.
- Details are sealed (:data:`DETAIL_PURPOSE`); they hold device models, levels, reasons, unlock
  methods and the citizen's *own* credential ids, never an ID number, a name, another account's
  credential id, an openid or a device id.
- A re-issue's end (``reissued``) is not a line of its own: the issuance that superseded it
  lists it. A takeover's end (``reissued_to_other_account``, by a light enrolment or a terminal)
  is a ``credential_taken_over`` line; when :class:`~bot.events.CredentialTakenOver` follows (a
  light enrolment), it adds the new holder's device model to that same line.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.crypto import seal_text, unseal_text
from bot.events import (
    CardReportedLost,
    CredentialEnded,
    CredentialIssued,
    CredentialTakenOver,
    DeviceChanged,
    EventBus,
    UnlockPreferenceChanged,
    UnlockVerified,
)
from bot.vocab import CredentialReason
from storage.models.citizen import Citizen
from storage.models.citizen_event import CitizenEvent
from storage.models.credential import Credential
from storage.models.credential_takeover import CredentialTakeover

DETAIL_PURPOSE = "citizen_event_detail"
TAKEN_OVER = "credential_taken_over"


class HistoryLog:
    """The subscribers, bound to the app's data key and clock (seconds since the epoch)."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._clock = clock

    def subscribe(self, bus: EventBus) -> None:
        """Subscribe every lifecycle event the history shows."""
        bus.subscribe(CredentialIssued, self.on_issued)
        bus.subscribe(CredentialEnded, self.on_ended)
        bus.subscribe(CredentialTakenOver, self.on_taken_over)
        bus.subscribe(DeviceChanged, self.on_device_changed)
        bus.subscribe(UnlockPreferenceChanged, self.on_unlock_preference)
        bus.subscribe(UnlockVerified, self.on_unlock_verified)
        bus.subscribe(CardReportedLost, self.on_card_reported_lost)

    def _write(
        self,
        session: Session,
        citizen: Citizen | None,
        kind: str,
        detail: dict[str, Any],
        *,
        credential_id: str | None = None,
    ) -> None:
        if citizen is None:
            return
        detail.setdefault("device_model", citizen.current_device_model)
        sealed = seal_text(
            self._settings.data_keyring, json.dumps(detail, sort_keys=True), DETAIL_PURPOSE
        )
        session.add(
            CitizenEvent(
                citizen_id=citizen.id, kind=kind, credential_id=credential_id,
                occurred_at=dt.datetime.fromtimestamp(self._clock(), dt.UTC),
                detail_sealed=sealed,
            )
        )  # fmt: skip
        session.flush()

    def _issued_model(self, session: Session, credential_id: str) -> str | None:
        """The device model on the credential's issuance line, if it has one."""
        sealed = session.scalars(
            select(CitizenEvent.detail_sealed).where(
                CitizenEvent.credential_id == credential_id,
                CitizenEvent.kind == "credential_issued",
            )
        ).first()
        if sealed is None:
            return None
        detail = json.loads(unseal_text(self._settings.data_keyring, sealed, DETAIL_PURPOSE))
        model = detail.get("device_model")
        return model if isinstance(model, str) else None

    def on_issued(self, session: Session, issued: CredentialIssued) -> None:
        """The holder's line: the level, and the credentials this one superseded."""
        own: list[dict[str, str]] = []
        other_account = False
        for previous_id in issued.superseded_ids:
            previous = session.get(Credential, previous_id)
            if previous is not None and previous.openid == issued.openid:
                own.append({"credential_id": previous.id, "level": previous.level})
            else:
                other_account = True
        detail: dict[str, Any] = {"level": str(issued.level), "superseded": own}
        if other_account:
            detail["superseded_other_account"] = True
        detail["credential_id"] = issued.credential_id
        self._write(
            session, _by_openid(session, issued.openid), "credential_issued", detail,
            credential_id=issued.credential_id,
        )  # fmt: skip

    def on_ended(self, session: Session, ended: CredentialEnded) -> None:
        """The holder's line: which credential ended, how, and why."""
        if ended.reason == CredentialReason.REISSUED:
            return  # the issuance that superseded it lists it
        if ended.reason == CredentialReason.REISSUED_TO_OTHER_ACCOUNT:
            detail_taken: dict[str, Any] = {
                "credential_id": ended.credential_id,
                "other_device_model": None,
            }
            issued_model = self._issued_model(session, ended.credential_id)
            if issued_model is not None:
                detail_taken["device_model"] = issued_model
            self._write(
                session, _by_openid(session, ended.openid), TAKEN_OVER, detail_taken,
                credential_id=ended.credential_id,
            )  # fmt: skip
            return
        detail = {
            "credential_id": ended.credential_id,
            "status": str(ended.status),
            "reason": str(ended.reason),
        }
        issued_on = self._issued_model(session, ended.credential_id)
        if issued_on is not None:  # the phone the credential lived on, not the one signing in
            detail["device_model"] = issued_on
        self._write(
            session, _by_openid(session, ended.openid), "credential_ended", detail,
            credential_id=ended.credential_id,
        )  # fmt: skip

    def on_taken_over(self, session: Session, taken: CredentialTakenOver) -> None:
        """Add the new holder's device model (the only thing told about them) to the previous
        holder's ``credential_taken_over`` line, written when their credential ended."""
        takeover = session.get(CredentialTakeover, taken.takeover_id)
        if takeover is None:
            return
        line = session.scalars(
            select(CitizenEvent).where(
                CitizenEvent.credential_id == takeover.previous_credential_id,
                CitizenEvent.kind == TAKEN_OVER,
            )
        ).first()
        if line is None:
            return
        ring = self._settings.data_keyring
        detail = json.loads(unseal_text(ring, line.detail_sealed, DETAIL_PURPOSE))
        detail["other_device_model"] = taken.device_model
        line.detail_sealed = seal_text(ring, json.dumps(detail, sort_keys=True), DETAIL_PURPOSE)
        session.flush()

    def on_device_changed(self, session: Session, changed: DeviceChanged) -> None:
        """The citizen's line: from which phone model to which."""
        detail = {
            "device_model": changed.device_model,
            "previous_device_model": changed.previous_device_model,
        }
        self._write(session, session.get(Citizen, changed.citizen_id), "device_changed", detail)

    def on_unlock_preference(self, session: Session, changed: UnlockPreferenceChanged) -> None:
        """The citizen's line: biometric unlock switched on or off, with its method."""
        kind = "unlock_enabled" if changed.enabled else "unlock_disabled"
        detail = {"method": changed.method, "device_model": changed.device_model}
        self._write(session, session.get(Citizen, changed.citizen_id), kind, detail)

    def on_unlock_verified(self, session: Session, verified: UnlockVerified) -> None:
        """The citizen's line: the pass was unlocked with the phone's biometrics."""
        detail = {"method": verified.method, "device_model": verified.device_model}
        self._write(session, session.get(Citizen, verified.citizen_id), "unlock_verified", detail)

    def on_card_reported_lost(self, session: Session, reported: CardReportedLost) -> None:
        """A line for the reporting citizen, and for each holder whose credential it ended."""
        citizens: dict[int, tuple[Citizen, int]] = {}
        if reported.citizen_id is not None:
            reporter = session.get(Citizen, reported.citizen_id)
            if reporter is not None:
                citizens[reporter.id] = (reporter, 0)
        for credential_id in reported.revoked_ids:
            credential = session.get(Credential, credential_id)
            holder = _by_openid(session, credential.openid) if credential is not None else None
            if holder is not None:
                citizens[holder.id] = (holder, citizens.get(holder.id, (holder, 0))[1] + 1)
        for citizen, ended in citizens.values():
            detail = {
                "actor": reported.actor,
                "newly_reported": reported.newly_reported,
                "credentials_ended": ended,  # this citizen's own, not the person's other accounts'
            }
            self._write(session, citizen, "card_reported_lost", detail)


def _by_openid(session: Session, openid: str) -> Citizen | None:
    return session.scalars(select(Citizen).where(Citizen.openid == openid)).one_or_none()
