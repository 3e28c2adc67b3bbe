"""An enrolment racing a device change (issue 12, races).

Each round the citizen, signed in on phone A, finishes an enrolment on A while signing in on
phone B at the same moment (two threads released together). Whichever commits first: never two
active credentials, and never an active credential bound to a phone that is no longer the
citizen's current one (it could never be shown, and its card would linger in the card pack).
Runs on every backend the suite runs (SQLite, and PostgreSQL when configured): each backend
has its own check in ``bot.identity.enrolment.hold_current_device`` (PostgreSQL the row lock
before the writes, SQLite the second read after them), and without it this test fails there.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from bot.credentials.errors import DeviceNotBound
from bot.devices.keys import DeviceProof, new_login_nonce
from bot.devices.rules import sign_in
from bot.extensions import database, store
from bot.identity.enrolment import issue_light_credential
from bot.identity.errors import EnrolmentInProgress
from bot.vocab import CredentialStatus
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from tests.kit.device import TestDevice
from tests.registry_factories import add_record

ROUNDS = 20
OPENID = "o-enrol-racer"


def _sign_in(app: Any, phone: TestDevice) -> str:
    nonce = new_login_nonce(store(app))
    proof = DeviceProof(nonce, phone.sign(nonce), phone.public_key_der_b64)
    with database(app).transaction() as session:
        tokens = sign_in(session, store(app), openid=OPENID, unionid=None,
                         device_id=phone.device_id, proof=proof)  # fmt: skip
        return str(tokens.citizen_id)


def _enrol(app: Any, citizen_id: int, device_id: str, subject: int) -> str:
    try:
        issue_light_credential(
            database(app), citizen_id=citizen_id, openid=OPENID, device_id=device_id,
            subject_id=subject, card_pack=False,
        )  # fmt: skip
    except (DeviceNotBound, EnrolmentInProgress) as refused:
        return refused.code
    return "issued"


def _race(*jobs: Any) -> list[str]:
    """Run the jobs on their own threads, released together; their results in order."""
    start = threading.Barrier(len(jobs))
    results = [""] * len(jobs)

    def run(index: int) -> None:
        start.wait()
        results[index] = jobs[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_an_enrolment_racing_a_device_change_never_binds_a_signed_out_phone(app: Any) -> None:
    subject = add_record(app)
    phone = TestDevice("phone-race-0")
    citizen_id = int(_sign_in(app, phone))
    outcomes: list[str] = []
    for round_number in range(1, ROUNDS + 1):
        new_phone = TestDevice(f"phone-race-{round_number}")
        results = _race(
            lambda: _enrol(app, citizen_id, phone.device_id, subject),  # noqa: B023 - joined
            lambda: _sign_in(app, new_phone),  # noqa: B023 - joined before the loop moves on
        )
        outcomes.append(results[0])

        with database(app).transaction() as session:
            current = session.scalars(select(Citizen.current_device_id)).one()
            active = session.scalars(
                select(Credential.device_id).where(Credential.status == CredentialStatus.ACTIVE)
            ).all()
        assert current == new_phone.device_id, round_number
        assert len(active) <= 1, (round_number, active)
        assert all(device == current for device in active), (round_number, active, current)
        phone = new_phone
    assert set(outcomes) <= {"issued", "device_not_bound", "enrolment_in_progress"}
