"""Light enrolment with WeChat 人脸核身, end to end over HTTP against the emulator.

The emulator keeps its own authority record and judges each scan against it; the test plays the
citizen's ``wx.requestFacialVerify`` with :meth:`FaceAuthority.scan`. Nothing here mocks our code.
"""

from __future__ import annotations

import ast
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import ConfigError
from bot.extensions import database, settings, store
from bot.identity import delegated
from bot.identity.delegated import (
    SESSION_TTL_S,
    DelegatedSessionInvalid,
    confirm_delegated_enrolment,
    face_verifier,
)
from bot.wechat.emulator import RunningEmulator
from bot.wechat.emulator.server import Emulator
from bot.wechat.face import cert_hash
from storage.models.credential import Credential
from tests.handlers.verify_helpers import fetch_token, merchant_key, verify
from tests.registry_factories import ADULT_ID, add_record

NAME = "张三明"
START = "/api/v1/enrollments/wechat-face"
CONFIRM = "/api/v1/enrollments/wechat-face/confirm"
GET_VERIFY_ID = "/cityservice/face/identify/getverifyid"
QUERY = "/cityservice/face/identify/queryverifyinfo"


@pytest.fixture
def wechat_app_config(
    wechat_app_config: dict[str, Any], request: pytest.FixtureRequest
) -> dict[str, Any]:
    """The deployment enrols with WeChat face verification; small attempt limits (a test may
    change them with an indirect parameter)."""
    wechat_app_config.update(  # in place: the ``app`` fixture is built from ``app_config``
        {
            "enrol_liveness": "wechat",
            "enrol_max_failures_per_openid": 4,
            "enrol_max_failures_per_id": 3,
            **getattr(request, "param", {}),
        }
    )
    return wechat_app_config


@pytest.fixture
def person(wechat_app: Any, emulator: Emulator) -> int:
    """The same person in our registry and in the emulator's authority source."""
    emulator.face.register(ADULT_ID, NAME)
    return add_record(wechat_app, name=NAME)


def _auth(tokens: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token}"}


def _start(client: Any, tokens: Any, name: str = NAME, id_number: str = ADULT_ID) -> Any:
    return client.post(START, json={"name": name, "id_number": id_number}, headers=_auth(tokens))


def _confirm(client: Any, tokens: Any, verify_id: str) -> Any:
    return client.post(CONFIRM, json={"verify_id": verify_id}, headers=_auth(tokens))


def _active(app: Any) -> list[Credential]:
    with database(app).transaction() as session:
        rows = session.scalars(select(Credential).where(Credential.status == "active")).all()
        session.expunge_all()
        return list(rows)


def test_success_issues_a_credential_that_verifies(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
    caplog: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = login("o-alice", "phone-a")
    started = _start(wechat_client, tokens)
    assert started.status_code == 201, started.get_json()
    verify_id = started.get_json()["verify_id"]
    assert 0 < started.get_json()["expires_in"] <= SESSION_TTL_S

    (call,) = emulator.calls_to(GET_VERIFY_ID)
    assert call.body is not None and call.params["access_token"]
    assert call.body["openid"] == "o-alice"
    assert call.body["cert_info"] == {
        "cert_type": "IDENTITY_CARD",
        "cert_name": NAME,
        "cert_no": ADULT_ID,
    }
    assert emulator.face.scan(verify_id, "o-alice") == 10000

    confirmed = _confirm(wechat_client, tokens, verify_id)
    assert confirmed.status_code == 201, confirmed.get_json()
    assert confirmed.get_json()["level"] == "light"
    assert confirmed.get_json()["liveness"] == "wechat"
    (query,) = emulator.calls_to(QUERY)
    assert query.body is not None
    assert query.body["cert_hash"] == cert_hash("IDENTITY_CARD", NAME, ADULT_ID)
    assert query.body["out_seq_no"] == call.body["out_seq_no"]
    (credential,) = _active(wechat_app)
    assert (credential.subject_id, credential.openid, credential.device_id) == (
        person,
        "o-alice",
        "phone-a",
    )

    token = fetch_token(wechat_client, tokens.access_token)
    status, body = verify(wechat_client, merchant_key(wechat_app), token)
    assert status == 200 and body["result"] == "valid", body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert ADULT_ID not in logged and NAME not in logged and verify_id not in logged


@pytest.mark.parametrize(
    ("scan", "reason", "result"),
    [
        ({"face_matches": False}, "face_mismatch", 10004),
        ({"verify_ret": 90002}, "not_completed", 90002),
    ],
)
def test_a_failed_scan_refuses(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
    scan: dict[str, Any],
    reason: str,
    result: int,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice", **scan)
    refused = _confirm(wechat_client, tokens, verify_id)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "face_verification_failed"
    assert error["details"] == {"reason": reason, "result": result}
    assert _active(wechat_app) == []


def test_confirm_before_the_scan_is_refused_and_burns_the_session(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    early = _confirm(wechat_client, tokens, verify_id)
    assert (early.status_code, early.get_json()["error"]["code"]) == (400, "verify_id_invalid")
    emulator.face.scan(verify_id, "o-alice")
    again = _confirm(wechat_client, tokens, verify_id)
    assert again.get_json()["error"]["code"] == "verify_id_invalid"
    assert _active(wechat_app) == []


def test_a_replayed_verify_id_is_refused(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    assert _confirm(wechat_client, tokens, verify_id).status_code == 201
    (first,) = _active(wechat_app)
    replay = _confirm(wechat_client, tokens, verify_id)
    assert (replay.status_code, replay.get_json()["error"]["code"]) == (400, "verify_id_invalid")
    (still,) = _active(wechat_app)
    assert still.id == first.id  # nothing re-issued
    assert len(emulator.calls_to(QUERY)) == 1  # refused before asking WeChat again


def test_a_verify_id_from_another_account_or_device_is_refused(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    victim = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, victim).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    intruder = login("o-mallory", "phone-m")
    stolen = _confirm(wechat_client, intruder, verify_id)
    assert (stolen.status_code, stolen.get_json()["error"]["code"]) == (400, "verify_id_invalid")
    # The same account on a new phone is a new device: the old phone's session is not its own.
    moved = login("o-alice", "phone-b")
    other_device = _confirm(wechat_client, moved, verify_id)
    assert other_device.get_json()["error"]["code"] == "verify_id_invalid"
    assert _active(wechat_app) == []
    assert emulator.calls_to(QUERY) == []


def test_the_scan_from_another_wechat_user_does_not_pass(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    """Mallory starts with Alice's name and ID number and scans her own face on her phone."""
    mallory = login("o-mallory", "phone-m")
    verify_id = _start(wechat_client, mallory).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-mallory", face_matches=False)
    refused = _confirm(wechat_client, mallory, verify_id)
    assert refused.get_json()["error"]["details"]["reason"] == "face_mismatch"
    assert _active(wechat_app) == []


def test_name_mismatch_is_refused_by_us_and_by_the_authority(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    login: Any,
) -> None:
    add_record(wechat_app, name=NAME)
    tokens = login("o-alice", "phone-a")
    ours = _start(wechat_client, tokens, name="张三")
    assert (ours.status_code, ours.get_json()["error"]["code"]) == (422, "name_mismatch")
    assert emulator.calls_to(GET_VERIFY_ID) == []  # refused before WeChat is asked
    # Our registry and the authority disagree (the authority has another name for this ID).
    emulator.face.register(ADULT_ID, "张三民")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    assert emulator.face.scan(verify_id, "o-alice") == 10003
    refused = _confirm(wechat_client, tokens, verify_id)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["details"] == {
        "reason": "identity_mismatch",
        "result": 10003,
    }
    assert _active(wechat_app) == []


def test_an_expired_session_is_refused(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    emulator.face.advance(3601)  # WeChat's hour is over
    expired = _confirm(wechat_client, tokens, verify_id)
    assert expired.get_json()["error"]["code"] == "verify_id_invalid"
    assert expired.get_json()["error"]["details"]["errcode"] != 0
    assert _active(wechat_app) == []


def test_attempt_limits_hold_in_wechat_mode(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    """Three refused scans for one ID number: the fourth start is refused before WeChat."""
    for number in range(3):
        tokens = login(f"o-prober-{number}", f"phone-{number}")
        verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
        emulator.face.scan(verify_id, f"o-prober-{number}", face_matches=False)
        assert _confirm(wechat_client, tokens, verify_id).status_code == 422
    calls = len(emulator.calls_to(GET_VERIFY_ID))
    fresh = login("o-prober-9", "phone-9")
    limited = _start(wechat_client, fresh)
    assert (limited.status_code, limited.get_json()["error"]["code"]) == (429, "too_many_attempts")
    assert len(emulator.calls_to(GET_VERIFY_ID)) == calls


def test_wechat_errors_map_to_stable_codes(
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    emulator.fail(GET_VERIFY_ID, -1)
    busy = _start(wechat_client, tokens)
    assert (busy.status_code, busy.get_json()["error"]["code"]) == (503, "wechat_unavailable")
    assert busy.headers["Retry-After"]
    emulator.fail(GET_VERIFY_ID, 45009)
    quota = _start(wechat_client, tokens)
    assert (quota.status_code, quota.get_json()["error"]["code"]) == (503, "wechat_quota_exceeded")
    assert quota.headers["Retry-After"]
    emulator.fail(GET_VERIFY_ID, 40003)
    refused = _start(wechat_client, tokens)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (502, "wechat_error")


def test_an_outage_at_confirm_is_503_and_the_session_survives_it(
    wechat_app: Any,
    wechat_client: Any,
    running_emulator: RunningEmulator,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    emulator.fail(QUERY, -1)
    busy = _confirm(wechat_client, tokens, verify_id)
    assert (busy.status_code, busy.get_json()["error"]["code"]) == (503, "wechat_unavailable")
    assert busy.headers["Retry-After"]
    emulator.delay(QUERY, 1.5)  # the client timeout is 1 s in tests
    slow = _confirm(wechat_client, tokens, verify_id)
    assert (slow.status_code, slow.headers.get("Retry-After") is not None) == (503, True)
    assert _active(wechat_app) == []
    # After the outage the citizen's completed scan still counts: retrying issues.
    assert _confirm(wechat_client, tokens, verify_id).status_code == 201
    running_emulator.stop()
    down = _start(wechat_client, login("o-bob", "phone-b"))
    assert (down.status_code, down.get_json()["error"]["code"]) == (503, "wechat_unavailable")
    assert down.headers["Retry-After"]


def test_engine_endpoints_are_refused_in_wechat_mode(wechat_client: Any, login: Any) -> None:
    tokens = login("o-alice", "phone-a")
    challenge = wechat_client.post("/api/v1/liveness/challenges", headers=_auth(tokens))
    assert challenge.status_code == 409
    assert challenge.get_json()["error"]["code"] == "enrolment_mode_unavailable"
    assert "wechat-face" in challenge.get_json()["error"]["message"]


def test_wechat_endpoints_are_refused_in_engine_mode(client: Any, login: Any) -> None:
    tokens = login("o-alice", "phone-a")
    started = _start(client, tokens)
    assert (started.status_code, started.get_json()["error"]["code"]) == (
        409,
        "enrolment_mode_unavailable",
    )
    confirmed = _confirm(client, tokens, "emuverify-anything")
    assert confirmed.get_json()["error"]["code"] == "enrolment_mode_unavailable"


def test_unauthenticated_and_malformed_requests(wechat_client: Any, login: Any) -> None:
    assert wechat_client.post(START, json={"name": NAME, "id_number": ADULT_ID}).status_code == 401
    tokens = login("o-alice", "phone-a")
    extra = wechat_client.post(
        START, json={"name": NAME, "id_number": ADULT_ID, "openid": "x"}, headers=_auth(tokens)
    )
    assert (extra.status_code, extra.get_json()["error"]["code"]) == (400, "validation_error")
    long_id = wechat_client.post(CONFIRM, json={"verify_id": "v" * 257}, headers=_auth(tokens))
    assert long_id.status_code == 400


def test_parallel_confirms_of_one_verify_id_issue_once(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    barrier = threading.Barrier(6)

    def confirm_once(_: int) -> int:
        client = wechat_app.test_client()
        barrier.wait(timeout=30)
        return int(_confirm(client, tokens, verify_id).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(confirm_once, range(6)))
    # One issues; the others are refused as used (400), or, once the refusals have reached the
    # account's limit of four, before that check (429).
    assert statuses[0] == 201 and set(statuses[1:]) <= {400, 429}
    assert statuses.count(201) == 1
    assert len(_active(wechat_app)) == 1
    assert len(emulator.calls_to(QUERY)) == 1


def test_an_unknown_liveness_mode_stops_the_start(make_app: Any) -> None:
    with pytest.raises(ConfigError, match="WANGZHENG_ENROL_LIVENESS"):
        make_app(enrol_liveness="selfie")


# Attempt slots are reserved before the registry lookup, so the per-ID failure limit (3) would
# also hold parallel starts back; this test is about the cap on paid starts alone.
@pytest.mark.parametrize("wechat_app_config", [{"enrol_max_failures_per_id": 10}], indirect=True)
def test_starts_per_account_are_capped_exactly_under_concurrency(
    wechat_app: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    """Each start is a paid WeChat call: ten parallel starts, a daily cap of four."""
    tokens = login("o-alice", "phone-a")
    barrier = threading.Barrier(10)

    def start_once(_: int) -> int:
        client = wechat_app.test_client()
        barrier.wait(timeout=30)
        return int(_start(client, tokens).status_code)

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(pool.map(start_once, range(10)))
    assert statuses == [201] * 4 + [429] * 6
    assert len(emulator.calls_to(GET_VERIFY_ID)) == 4


def test_our_session_expires_before_wechats(
    wechat_app: Any,
    wechat_client: Any,
    emulator: Emulator,
    person: int,
    login: Any,
) -> None:
    """Past SESSION_TTL_S (our clock), a scan WeChat would still accept is refused."""
    tokens = login("o-alice", "phone-a")
    verify_id = _start(wechat_client, tokens).get_json()["verify_id"]
    emulator.face.scan(verify_id, "o-alice")
    principal = {"citizen_id": tokens.citizen_id, "openid": "o-alice", "device_id": "phone-a"}
    with wechat_app.app_context():
        arguments = (database(), store(), settings(), face_verifier())
        with pytest.raises(DelegatedSessionInvalid):
            confirm_delegated_enrolment(
                *arguments,
                **principal,
                verify_id=verify_id,
                clock=lambda: time.time() + SESSION_TTL_S + 1,
            )
        assert emulator.calls_to(QUERY) == []
        # The same call on time issues: only the clock made the difference.
        issued = confirm_delegated_enrolment(*arguments, **principal, verify_id=verify_id)
    assert issued.subject_id == person


def test_the_domain_never_imports_the_wechat_adapter() -> None:
    source = Path(delegated.__file__).read_text()
    imported = {
        node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not [name for name in imported if name.startswith("bot.wechat")]
    assert "bot.identity.enrolment" in imported  # the shared issuance
