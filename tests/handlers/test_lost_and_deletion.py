"""Report a lost ID card (citizen and authority), delete my credential, erase my account (issue 12).

Against the emulator: the card leaves the card pack, tokens stop verifying, enrolment waits for
the authority, and the erasure leaves nothing that names the account.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.credentials.service import issue_credential, new_card_code
from bot.extensions import database
from bot.identity.enrolment import issue_light_credential
from bot.identity.lost import IdCardReportedLost, report_lost
from bot.vocab import Level
from bot.wechat.emulator.server import Emulator
from storage.models.app_session import AppSession
from storage.models.citizen import Citizen
from storage.models.credential import Credential
from storage.models.device_key import DeviceKey
from storage.models.registry_record import RegistryRecord
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.registry_factories import ADULT_ID, add_record

OPENID, DEVICE = "o-holder", "device-holder-1"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _holder(app: Any, login: Any) -> tuple[str, int, str, str]:
    """A signed-in holder of a light credential with a card code: (token, subject, id, code)."""
    tokens = login(OPENID, DEVICE)
    subject = add_record(app)
    code = new_card_code()
    with database(app).transaction() as session:
        issued = issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid=OPENID, device_id=DEVICE,
            card_code=code,
        )  # fmt: skip
    return tokens.access_token, subject, issued.credential_id, code


def _status(app: Any, credential_id: str) -> tuple[str, str | None]:
    with database(app).transaction() as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        return row.status, row.reason


def _unavailable(emulator: Emulator) -> list[str]:
    return [
        (call.body or {}).get("code", "") for call in emulator.calls_to("/card/code/unavailable")
    ]


def test_citizen_reports_the_card_lost(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    token, subject, credential, code = _holder(wechat_app, login)
    key = merchant_key(wechat_app)
    presented = fetch_token(wechat_client, token)

    first = wechat_client.post("/api/v1/me/report-lost", headers=_auth(token))
    assert (first.status_code, first.get_json()) == (200, {"newly_reported": True, "revoked": 1})
    assert _status(wechat_app, credential) == ("revoked", "id_card_reported_lost")
    assert verify(wechat_client, key, presented)[1] == {"result": "invalid", "reason": "revoked"}
    assert _unavailable(emulator) == [code]
    again = wechat_client.post("/api/v1/me/report-lost", headers=_auth(token))
    assert again.get_json() == {"newly_reported": False, "revoked": 0}  # idempotent
    assert _unavailable(emulator) == [code]

    # Enrolment waits for the authority; clear-lost opens it again.
    with pytest.raises(IdCardReportedLost):
        issue_light_credential(database(wechat_app), citizen_id=1, openid=OPENID,
                               device_id=DEVICE, subject_id=subject, card_pack=False)  # fmt: skip
    runner = wechat_app.test_cli_runner()
    cleared = runner.invoke(args=["registry", "clear-lost"], input=ADULT_ID + "\n")
    assert cleared.exit_code == 0, cleared.output
    assert "cleared: enrolment is open again" in cleared.output
    assert "nothing to do" in runner.invoke(args=["registry", "clear-lost"], input=ADULT_ID).output
    with database(wechat_app).transaction() as session:
        citizen_id = session.scalars(select(Citizen.id).where(Citizen.openid == OPENID)).one()
    issue_light_credential(database(wechat_app), citizen_id=citizen_id, openid=OPENID,
                           device_id=DEVICE, subject_id=subject, card_pack=False)  # fmt: skip


def test_the_authority_reports_the_card_lost(app: Any, runner: Any, login: Any) -> None:
    _token, subject, credential, _code = _holder(app, login)
    first = runner.invoke(args=["registry", "report-lost"], input=ADULT_ID + "\n")
    assert first.exit_code == 0, first.output
    assert f"record {subject}: reported lost; 1 credential(s) revoked" in first.output
    assert ADULT_ID not in first.output.split("ID number:")[-1]  # the prompt hides it
    again = runner.invoke(args=["registry", "report-lost"], input=ADULT_ID + "\n")
    assert f"record {subject}: already reported lost; 0 credential(s) revoked" in again.output
    assert _status(app, credential) == ("revoked", "id_card_reported_lost")
    with database(app).transaction() as session:
        record = session.get(RegistryRecord, subject)
        assert record is not None and record.lost_card_expires_on == record.expires_on


def _enrol(
    barrier: threading.Barrier,
    errors: list[str],
    app: Any,
    citizen_id: int,
    openid: str,
    device_id: str,
    subject: int,
) -> None:
    barrier.wait()
    try:
        issue_light_credential(
            database(app),
            citizen_id=citizen_id,
            openid=openid,
            device_id=device_id,
            subject_id=subject,
            card_pack=False,
        )
    except Exception as exc:  # noqa: BLE001 - a refusal is a fine outcome; checked by the test
        errors.append(type(exc).__name__)


def _report(barrier: threading.Barrier, app: Any, subject: int) -> None:
    barrier.wait()
    with database(app).transaction() as session:
        report_lost(session, subject, actor="authority")


def test_report_lost_racing_an_enrolment_never_leaves_an_active_credential(
    app: Any, login: Any
) -> None:
    """Whichever commits first, no active credential survives on a card reported lost."""
    subject = add_record(app)
    for round_number in range(10):
        openid = f"o-racer-{round_number}"
        citizen_id = login(openid, f"device-racer-{round_number}").citizen_id
        barrier = threading.Barrier(2)
        errors: list[str] = []
        enrolment = (app, citizen_id, openid, f"device-racer-{round_number}", subject)
        threads = [
            threading.Thread(target=_enrol, args=(barrier, errors, *enrolment)),
            threading.Thread(target=_report, args=(barrier, app, subject)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with database(app).transaction() as session:
            active = session.scalar(
                select(func.count()).select_from(Credential).where(Credential.status == "active")
            )
            record = session.get(RegistryRecord, subject)
            assert record is not None
            record.lost_card_expires_on = None  # cleared for the next round
        assert active == 0, (round_number, errors)
        assert set(errors) <= {"IdCardReportedLost", "EnrolmentInProgress"}, errors


def test_delete_my_credential(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    token, _subject, credential, code = _holder(wechat_app, login)
    key = merchant_key(wechat_app)
    presented = fetch_token(wechat_client, token)
    first = wechat_client.delete("/api/v1/credentials/current", headers=_auth(token))
    assert (first.status_code, first.get_json()) == (200, {"ended": True})
    assert _status(wechat_app, credential) == ("revoked", "deleted_by_holder")
    assert verify(wechat_client, key, presented)[1] == {"result": "invalid", "reason": "revoked"}
    assert _unavailable(emulator) == [code]
    again = wechat_client.delete("/api/v1/credentials/current", headers=_auth(token))
    assert again.get_json() == {"ended": False}
    # The account stays: the session still works.
    assert wechat_client.get("/api/v1/me/preferences", headers=_auth(token)).status_code == 200


def test_erase_my_account(
    wechat_app: Any, wechat_client: Any, emulator: Emulator, login: Any
) -> None:
    token, subject, credential, code = _holder(wechat_app, login)
    key = merchant_key(wechat_app)
    assert verify(wechat_client, key, fetch_token(wechat_client, token))[1]["result"] == "valid"

    erased = wechat_client.delete("/api/v1/me", headers=_auth(token))
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json() == {
        "erased": True, "credentials_ended": 1, "sessions": 1, "device_keys": 1,
    }  # fmt: skip
    assert _unavailable(emulator) == [code]
    with database(wechat_app).transaction() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 0
        assert session.scalar(select(func.count()).select_from(AppSession)) == 0
        assert session.scalar(select(func.count()).select_from(DeviceKey)) == 0
        ended = session.get(Credential, credential)
        assert ended is not None and ended.status == "revoked"
        assert ended.openid.startswith("erased:") and ended.device_id == ""
        assert session.scalar(select(func.count()).select_from(VerificationAudit)) == 1
        assert session.get(RegistryRecord, subject) is not None  # the authority's record stays
    repeat = wechat_client.delete("/api/v1/me", headers=_auth(token))
    assert repeat.status_code == 401  # the tokens are gone; nothing changes
