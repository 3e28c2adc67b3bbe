"""Two sign-ins of one citizen on two devices at the same moment (issue 12, races).

Each round, 2 threads sign the citizen in on two new devices at once, with real device proofs.
The database decides (the citizen's row is written first, so PostgreSQL's row lock or SQLite's
write lock orders them): afterwards exactly one device is bound, every live session belongs to
it, and the credential of the device signed out before the race is revoked once. 50 rounds on
each backend the suite runs (SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, select

from bot.devices.errors import SignInConflict
from bot.devices.keys import DeviceProof, new_login_nonce
from bot.devices.rules import sign_in
from bot.extensions import database, store
from bot.vocab import CredentialStatus
from storage.models.app_session import AppSession
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from tests.kit.device import TestDevice
from tests.registry_factories import add_record, issue

ROUNDS = 50
OPENID = "o-racing-citizen"


def _sign_in(app: Any, phone: TestDevice, ready: threading.Event | None = None) -> str:
    nonce = new_login_nonce(store(app))
    proof = DeviceProof(nonce, phone.sign(nonce), phone.public_key_der_b64)
    if ready is not None:
        ready.wait(5)  # the rival's transaction has read the binding and lingers
    try:
        with database(app).transaction() as session:
            sign_in(session, store(app), openid=OPENID, unionid=None, device_id=phone.device_id,
                    proof=proof)  # fmt: skip
    except SignInConflict:
        return "conflict"
    return "signed in"


class _Window:
    """Makes the first sign-in linger right after it reads the citizen's row, once its rival
    is released, so the rival's whole transaction runs inside it. Without the database
    ordering the two, both would bind and both sessions would stay live."""

    def __init__(self) -> None:
        self.first_read = threading.Event()

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        reading = statement.lstrip().upper().startswith("SELECT") and "FROM CITIZENS" in (
            statement.upper()
        )
        if reading and threading.current_thread().name == "first" and not self.first_read.is_set():
            self.first_read.set()
            time.sleep(0.15)


def _race(app: Any, phone: TestDevice, ready: threading.Event | None, outcomes: list[str]) -> None:
    outcomes.append(_sign_in(app, phone, ready))


def test_two_devices_signing_in_at_once_leave_exactly_one_binding(app: Any) -> None:
    first = TestDevice("device-race-0")
    assert _sign_in(app, first) == "signed in"
    subject = add_record(app)
    bound = first.device_id
    for round_number in range(1, ROUNDS + 1):
        credential = issue(app, subject, openid=OPENID, device_id=bound).credential_id
        phones = [TestDevice(f"device-race-{round_number}-{side}") for side in "ab"]
        window = _Window()
        event.listen(database(app).engine, "after_cursor_execute", window)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=_race, args=(app, phones[0], None, outcomes), name="first"),
            threading.Thread(target=_race, args=(app, phones[1], window.first_read, outcomes)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        event.remove(database(app).engine, "after_cursor_execute", window)

        assert "signed in" in outcomes, outcomes
        with database(app).transaction() as session:
            current = session.scalars(select(Citizen.current_device_id)).one()
            live = session.scalars(
                select(AppSession.device_id).where(AppSession.revoked_at.is_(None))
            ).all()
            ended = session.get(Credential, credential)
        assert current in {phone.device_id for phone in phones}, (round_number, current)
        assert live == [current], (round_number, live)  # one live session, on the bound device
        assert ended is not None and ended.status == CredentialStatus.REVOKED
        assert ended.reason == "device_changed"
        bound = current
