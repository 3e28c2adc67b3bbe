"""The upgraded credential at a terminal, end to end over HTTP: the happy path and each attack."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.test import encode_multipart

from bot.demo.chip import chip_photo
from bot.extensions import clock, database
from bot.extensions import settings as app_settings
from bot.face.service import get_engine
from bot.identity.enrolment import issue_light_credential
from bot.identity.errors import UpgradedCredentialHeld
from bot.terminals.sessions import SESSION_TTL_S
from storage.models.credential import Credential
from storage.models.credential_password import CredentialPassword
from storage.models.registry_record import RegistryRecord
from tests.bot.face.imaging import FACE_ROOT, to_image, to_jpeg
from tests.handlers.terminal_flow import (
    CARD_EXPIRY,
    GOOD_PASSWORD,
    HOLDER_ID,
    Visit,
    chip_fields,
    open_and_claim,
    set_password,
    start_visit,
)
from tests.kit.terminal import new_terminal
from tests.registry_factories import issue


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack (the live-face checks run the real engine)."""
    return {**app_config, "face_model_root": FACE_ROOT}


@pytest.fixture
def chip(app: Any, photos: dict[str, bytes]) -> bytes:
    """Obama's photo as an ID card chip stores it (102 x 126)."""
    return chip_photo(get_engine(app_settings(app)), photos["obama"])


@pytest.fixture
def visit(app: Any, login: Any) -> Visit:
    """A citizen with a light credential, in front of a registered terminal."""
    started = start_visit(app, login, new_terminal(app))
    issue(app, started.subject_id, openid="o-holder", device_id="phone-o-holder")
    return started


def _credentials(app: Any) -> list[Credential]:
    with database(app).transaction() as session:
        rows = session.scalars(select(Credential).order_by(Credential.issued_at)).all()
        session.expunge_all()
        return list(rows)


def test_the_whole_visit_issues_a_colour_pass_that_supersedes_the_light_one(
    app: Any, visit: Visit, chip: bytes
) -> None:
    terminal = visit.terminal
    opened = terminal.open().get_json()
    assert opened["status"] == "open" and opened["qr_payload"].startswith("WZT1.")
    session_id = opened["session_id"]
    claimed = terminal.client.post(
        "/api/v1/terminal-claims", json={"qr_payload": opened["qr_payload"]}, headers=visit.auth
    )
    assert claimed.status_code == 200 and claimed.get_json()["status"] == "claimed"
    polled = terminal.poll(session_id).get_json()
    assert polled["status"] == "claimed" and polled["claimed_by"] == "欧*马"
    assert "qr_payload" not in polled and polled["password_set"] is False
    assert set_password(visit, session_id, GOOD_PASSWORD).get_json()["status"] == "ready"
    assert terminal.poll(session_id, "wait=1&seen=claimed").get_json()["status"] == "ready"

    issued = terminal.card(session_id, chip_fields(chip))
    assert issued.status_code == 201, issued.get_json()
    assert issued.get_json()["level"] == "upgraded" and issued.get_json()["face_similarity"] is None
    light, upgraded = _credentials(app)
    assert (light.level, light.status, light.reason) == ("light", "superseded", "reissued")
    assert (upgraded.level, upgraded.status, upgraded.device_id) == (
        "upgraded",
        "active",
        "phone-o-holder",
    )
    with database(app).transaction() as session:
        stored = session.get(CredentialPassword, upgraded.id)
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
        assert GOOD_PASSWORD not in stored.password_hash
    current = terminal.client.get("/api/v1/credentials/current", headers=visit.auth).get_json()
    assert current["level"] == "upgraded" and current["valid"] is True
    assert terminal.poll(session_id).get_json()["status"] == "issued"

    # The session is single use: the same card again is refused, nothing new is issued.
    again = terminal.card(session_id, chip_fields(chip))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "terminal_session_not_ready"
    assert len(_credentials(app)) == 2


def test_a_session_is_claimed_once_even_by_concurrent_citizens(app: Any, login: Any) -> None:
    terminal = new_terminal(app)
    payload = terminal.open().get_json()["qr_payload"]
    tokens = [login(f"o-rival-{n}", f"phone-{n}").access_token for n in range(6)]
    answers: list[int] = []
    start = threading.Barrier(len(tokens))

    def claim(token: str) -> None:
        client = app.test_client()
        start.wait()
        answer = client.post(
            "/api/v1/terminal-claims",
            json={"qr_payload": payload},
            headers={"Authorization": f"Bearer {token}"},
        )
        answers.append(answer.status_code)

    threads = [threading.Thread(target=claim, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200] + [409] * 5


def test_an_expired_or_forged_session_cannot_be_claimed(app: Any, visit: Visit) -> None:
    terminal = visit.terminal
    opened = terminal.open().get_json()
    session_id, secret = opened["qr_payload"].split(".")[1:]
    for forged in (f"WZT1.{session_id}.{'x' * len(secret)}", f"WZT9.{session_id}.{secret}"):
        answer = terminal.client.post(
            "/api/v1/terminal-claims", json={"qr_payload": forged}, headers=visit.auth
        )
        assert answer.status_code == 404
    clock(app).advance(SESSION_TTL_S + 1)
    late = terminal.client.post(
        "/api/v1/terminal-claims", json={"qr_payload": opened["qr_payload"]}, headers=visit.auth
    )
    assert late.status_code == 404
    assert late.get_json()["error"]["code"] == "terminal_session_not_found"
    assert terminal.poll(session_id).status_code == 404


def test_only_the_opening_terminal_sees_or_completes_its_session(
    app: Any, visit: Visit, chip: bytes
) -> None:
    session_id = open_and_claim(visit)
    stranger = new_terminal(app, name="Counter 9")
    assert stranger.poll(session_id).status_code == 404
    assert stranger.card(session_id, chip_fields(chip)).status_code == 404
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201


def test_the_card_before_the_claim_and_the_password_is_refused(visit: Visit, chip: bytes) -> None:
    session_id = visit.terminal.open().get_json()["session_id"]
    early = visit.terminal.card(session_id, chip_fields(chip))
    assert early.status_code == 409
    unset = open_and_claim(visit, password=None)
    assert visit.terminal.card(unset, chip_fields(chip)).status_code == 409


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"name": "拜登"}, 422, "chip_data_mismatch"),
        ({"id_number": "11010119900307123X"}, 422, "chip_data_mismatch"),
        ({"id_number": "not-an-id-number"}, 422, "chip_data_mismatch"),
        ({"expires_on": "2031-06-30"}, 422, "chip_data_mismatch"),
        ({"photo": b"GIF89a not a photo"}, 422, "chip_photo_invalid"),
        ({"photo": b"\xff\xd8\xff" + b"\0" * (64 * 1024)}, 413, "chip_photo_too_large"),
    ],
)
def test_chip_data_that_contradicts_the_registry_writes_nothing(
    app: Any, visit: Visit, chip: bytes, change: dict[str, Any], status: int, code: str
) -> None:
    session_id = open_and_claim(visit)
    refused = visit.terminal.card(session_id, chip_fields(chip, **change))
    assert refused.status_code == status, refused.get_json()
    assert refused.get_json()["error"]["code"] == code
    assert [c.level for c in _credentials(app)] == ["light"]
    # The refusal gave the session back: the right card then works.
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201


def test_a_camera_photo_is_not_a_chip_photo(visit: Visit, photos: dict[str, bytes]) -> None:
    session_id = open_and_claim(visit)
    big = visit.terminal.card(session_id, chip_fields(photos["obama"]))
    assert (big.status_code, big.get_json()["error"]["code"]) == (413, "chip_photo_too_large")
    small_bytes = to_jpeg(to_image(photos["obama"]).resize((300, 200)), optimize=True)
    assert len(small_bytes) < 64 * 1024
    wrong_size = visit.terminal.card(session_id, chip_fields(small_bytes))
    assert wrong_size.status_code == 422
    assert wrong_size.get_json()["error"]["code"] == "chip_photo_invalid"


def test_an_expired_card_and_a_lost_card_are_refused(app: Any, visit: Visit, chip: bytes) -> None:
    session_id = open_and_claim(visit)
    with database(app).transaction() as session:
        session.get(RegistryRecord, visit.subject_id).lost_card_expires_on = CARD_EXPIRY  # type: ignore[union-attr]
    lost = visit.terminal.card(session_id, chip_fields(chip))
    assert (lost.status_code, lost.get_json()["error"]["code"]) == (409, "id_card_reported_lost")
    clock(app).set(dt.datetime(2037, 1, 2, tzinfo=dt.UTC).timestamp())
    expired = start_visit_later(app, visit, chip)
    assert (expired.status_code, expired.get_json()["error"]["code"]) == (409, "id_card_expired")


def start_visit_later(app: Any, visit: Visit, chip: bytes) -> Any:
    """A fresh session after the clock moved past the card's expiry."""
    session_id = open_and_claim(visit)
    return visit.terminal.card(session_id, chip_fields(chip))


@pytest.mark.parametrize(
    "weak", ["11111111", "12345678", "87654321", "89012345", "1234567", "1234567a", "19610804"]
)
def test_weak_passwords_are_refused(visit: Visit, weak: str) -> None:
    session_id = open_and_claim(visit, password=None)
    refused = set_password(visit, session_id, weak)
    assert refused.status_code in (400, 422)
    if refused.status_code == 422:
        assert refused.get_json()["error"]["code"] == "password_weak"
        assert weak not in refused.get_data(as_text=True)


def test_a_birth_date_password_is_caught_at_the_card_when_the_phone_did_not_know_it(
    app: Any, login: Any, chip: bytes
) -> None:
    # No earlier credential: the birth date is known only from the chip.
    visit = start_visit(app, login, new_terminal(app), openid="o-newcomer")
    session_id = open_and_claim(visit, password="04081961")
    refused = visit.terminal.card(session_id, chip_fields(chip))
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "password_weak")
    assert visit.terminal.poll(session_id).get_json()["status"] == "claimed"
    assert set_password(visit, session_id, GOOD_PASSWORD).status_code == 200
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201


def test_the_live_face_must_match_the_chip_photo(
    app: Any, visit: Visit, chip: bytes, photos: dict[str, bytes]
) -> None:
    session_id = open_and_claim(visit)
    someone_else = visit.terminal.card(session_id, chip_fields(chip, live_face=photos["biden"]))
    assert someone_else.status_code == 422
    assert someone_else.get_json()["error"]["code"] == "face_mismatch"
    same_person = visit.terminal.card(session_id, chip_fields(chip, live_face=photos["obama2"]))
    assert same_person.status_code == 201, same_person.get_json()
    assert same_person.get_json()["face_similarity"] >= get_engine(app_settings(app)).threshold


def test_a_light_enrolment_never_supersedes_the_upgraded_credential(
    app: Any, visit: Visit, chip: bytes, login: Any
) -> None:
    session_id = open_and_claim(visit)
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201
    intruder = login("o-intruder", "phone-intruder").citizen_id
    holder = login("o-holder", "phone-o-holder").citizen_id  # the same phone: a fresh session
    for citizen, openid, device in (
        (intruder, "o-intruder", "phone-intruder"),
        (holder, "o-holder", "phone-o-holder"),
    ):
        with pytest.raises(UpgradedCredentialHeld):
            issue_light_credential(
                database(app),
                citizen_id=citizen,
                openid=openid,
                device_id=device,
                subject_id=visit.subject_id,
                card_pack=False,
            )
    levels = [(c.level, c.status) for c in _credentials(app)]
    assert levels == [("light", "superseded"), ("upgraded", "active")]


def test_the_card_of_a_dispute_blocked_person_lifts_the_block(
    app: Any, visit: Visit, chip: bytes
) -> None:
    with database(app).transaction() as session:
        record = session.get(RegistryRecord, visit.subject_id)
        assert record is not None
        record.light_enrolment_blocked_at = dt.datetime.now(dt.UTC)
    session_id = open_and_claim(visit)
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201
    with database(app).transaction() as session:
        record = session.get(RegistryRecord, visit.subject_id)
        assert record is not None and record.light_enrolment_blocked_at is None


def test_the_holder_id_is_a_real_id_number() -> None:
    from bot.identity.idnumber import parse_id_number

    assert parse_id_number(HOLDER_ID).birth_date == dt.date(1961, 8, 4)


def test_the_upgrade_has_the_usual_side_effects_through_the_domain_events(
    app: Any, login: Any, chip: bytes
) -> None:
    """The light card leaves the card pack and the holder is told, by bot/wechat's subscribers:
    bot/terminals records no WeChat work itself (tests/test_architecture.py forbids the import)."""
    import json

    from bot.credentials.service import issue_credential
    from bot.vocab import Level
    from storage.models.outbox import OutboxMessage

    visit = start_visit(app, login, new_terminal(app))
    with database(app).transaction() as session:
        issue_credential(
            session,
            subject_id=visit.subject_id,
            level=Level.LIGHT,
            openid="o-holder",
            device_id="phone-o-holder",
            card_code="c" * 32,
        )
    session_id = open_and_claim(visit)
    assert visit.terminal.card(session_id, chip_fields(chip)).status_code == 201
    with database(app).transaction() as session:
        rows = [
            (row.kind, json.loads(row.payload)) for row in session.scalars(select(OutboxMessage))
        ]
    unavailable = [payload for kind, payload in rows if kind == "card_unavailable"]
    assert unavailable == [{"code": "c" * 32, "reason": "reissued", "level": "light"}]
    told = [payload for kind, payload in rows if payload.get("kind") == "credential_issued"]
    assert len(told) == 2 and all(p["touser"] == "o-holder" for p in told)  # light, then upgraded


def test_terminal_requests_replayed_stale_or_forged_over_http_are_refused(
    app: Any, visit: Visit, chip: bytes
) -> None:
    terminal = visit.terminal
    path = "/api/v1/terminal/sessions"
    headers = terminal.headers("POST", path)
    assert terminal.client.post(path, headers=headers).status_code == 201
    replayed = terminal.client.post(path, headers=headers)
    assert replayed.status_code == 401
    assert replayed.get_json()["error"]["code"] == "terminal_auth_invalid"
    stale = terminal.headers("POST", path, timestamp=int(clock(app)()) - 61)
    assert terminal.client.post(path, headers=stale).status_code == 401
    # A signature over another body: the card post of a captured request with a swapped photo.
    session_id = open_and_claim(visit)
    signed_for_other_body = terminal.headers("POST", f"{path}/{session_id}/card", b"other")
    boundary, body = encode_multipart({"name": "x"})
    forged = terminal.client.post(
        f"{path}/{session_id}/card",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=signed_for_other_body,
    )
    assert forged.status_code == 401
    # None of it used the session up.
    assert terminal.card(session_id, chip_fields(chip)).status_code == 201
