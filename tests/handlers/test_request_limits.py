"""Limits on the endpoints that have no budget of their own: the unauthenticated login nonce
(per client address) and the lost-card report (per citizen). Each is tried past its limit, by
a race of 50 threads where it matters, and across the window's end on the app's clock."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.credentials.service import issue_credential, new_card_code
from bot.extensions import clock, database, store
from bot.identity.idnumber import make_id_number
from bot.vocab import Level
from storage.ephemeral.redis_store import RedisStore
from storage.models.ephemeral import EphemeralEntry
from tests.registry_factories import add_record

NONCE = "/api/v1/mp/login/nonce"
REPORT = "/api/v1/me/report-lost"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Small limits, so a test can pass them."""
    return {**app_config, "login_nonce_per_client_per_min": 5, "report_lost_per_citizen_per_day": 2}


def _nonce(app: Any, address: str) -> Any:
    return app.test_client().post(NONCE, environ_base={"REMOTE_ADDR": address})


def test_nonces_are_limited_per_address_exactly_under_a_race(app: Any) -> None:
    clock(app).set(1_800_000_000)  # the start of a minute: the race stays in one window
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        status = _nonce(app, "198.51.100.7").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 5 + [429] * 45

    refused = _nonce(app, "198.51.100.7")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "60"
    assert _nonce(app, "203.0.113.9").status_code == 201  # another address has its own budget

    clock(app).advance(59)
    assert _nonce(app, "198.51.100.7").headers["Retry-After"] == "1"
    clock(app).advance(1)  # the next minute
    assert _nonce(app, "198.51.100.7").status_code == 201


def _stored_keys(app: Any) -> list[str]:
    backend = store(app)
    if isinstance(backend, RedisStore):
        return [bytes(key).decode() for key in backend.client.scan_iter(match="*limit:*")]
    with database(app).transaction() as session:
        return list(session.scalars(select(EphemeralEntry.key)).all())


def test_the_stored_counter_names_no_address(app: Any) -> None:
    assert _nonce(app, "198.51.100.77").status_code == 201
    limit_keys = [key for key in _stored_keys(app) if "limit:" in key]
    assert len(limit_keys) == 1
    assert "198.51.100.77" not in limit_keys[0]


def _holder(app: Any, login: Any, openid: str, serial: int) -> str:
    tokens = login(openid, f"device-{openid}")
    subject = add_record(app, id_number=make_id_number("110105", dt.date(1980, 1, 2), serial))
    with database(app).transaction() as session:
        issue_credential(
            session, subject_id=subject, level=Level.LIGHT, openid=openid,
            device_id=f"device-{openid}", card_code=new_card_code(),
        )  # fmt: skip
    return str(tokens.access_token)


def test_lost_reports_are_limited_per_citizen_per_day(app: Any, login: Any) -> None:
    clock(app).set(1_800_000_000)
    client = app.test_client()
    mine = {"Authorization": f"Bearer {_holder(app, login, 'o-reporter', 11)}"}
    theirs = {"Authorization": f"Bearer {_holder(app, login, 'o-other', 12)}"}
    assert client.post(REPORT, headers=mine).get_json() == {"newly_reported": True, "revoked": 1}
    assert client.post(REPORT, headers=mine).status_code == 200
    refused = client.post(REPORT, headers=mine)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.post(REPORT, headers=theirs).status_code == 200  # counted per citizen
    clock(app).advance(86_400)  # the next day, signed in again (the session has expired)
    again = {"Authorization": f"Bearer {login('o-reporter', 'device-o-reporter').access_token}"}
    assert client.post(REPORT, headers=again).get_json() == {"newly_reported": False, "revoked": 0}
