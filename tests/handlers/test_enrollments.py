"""Light enrolment end to end over HTTP, with real photos and the real model pack.

The registry is filled through ``flask registry import``; the frames answering each issued
challenge are other real photos of the registered person, chosen by their landmark yaw.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from typing import Any

import jwt
import pytest
import segno
from sqlalchemy import select

from bot.extensions import clock
from bot.face.challenges import CHALLENGE_TTL_S
from bot.identity.idnumber import make_id_number
from storage.models.credential import Credential
from tests.bot.face.imaging import FACE_ROOT, mirrored
from tests.handlers.enrol_steps import (
    BIDEN_ID,
    BIDEN_NAME,
    OBAMA_ID,
    OBAMA_NAME,
    answer_challenge,
    bearer,
    enrol,
    frames_for,
)

pytestmark = pytest.mark.face


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Use the shared, already built face pack; small attempt limits to test them."""
    return {
        **app_config,
        "face_model_root": FACE_ROOT,
        "enrol_max_failures_per_openid": 3,
        "enrol_max_failures_per_id": 2,
        # One head turn: two frames. The photos at hand cannot answer two turns without reusing
        # the registered photo (or a mirror of another frame, which liveness rightly rejects).
        "face_liveness_steps": 1,
    }


def test_enrolment_issues_a_light_credential_and_a_verifiable_presentation(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
    caplog: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = login("o-obama", "phone-1")
    response = answer_challenge(client, tokens, turn_frames)
    assert response.status_code == 201, response.json
    assert response.json["level"] == "light" and response.json["status"] == "active"
    assert response.json["similarity"] >= response.json["threshold"]

    current = client.get("/api/v1/credentials/current", headers=bearer(tokens)).json
    assert current["level"] == "light" and current["valid"] is True
    assert current["masked_name"] == "欧*马"

    minted = client.post("/api/v1/credentials/current/presentations", headers=bearer(tokens))
    assert minted.status_code == 201
    token = minted.json["token"]
    assert len(token.encode()) <= 300
    # Byte-mode capacity at level M is 213 bytes for version 10 and 287 for version 12.
    assert int(segno.make(token, error="m", micro=False).version) <= 12
    header = jwt.get_unverified_header(token)
    jwks = client.get("/.well-known/jwks.json").json
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["ES256"], options={"verify_aud": False}
    )
    assert claims["lvl"] == "light"
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==").decode()
    for personal in (OBAMA_ID, OBAMA_NAME, "o-obama", "phone-1", "1961"):
        assert personal not in payload
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert OBAMA_ID not in logged and token not in logged


def test_another_persons_face_is_face_mismatch_with_hint(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    tokens = login("o-impostor", "phone-2")
    response = answer_challenge(client, tokens, turn_frames, id_number=BIDEN_ID, name=BIDEN_NAME)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "face_mismatch"
    assert "police station" in response.json["error"]["details"]["hint"]
    assert client.get("/api/v1/credentials/current", headers=bearer(tokens)).status_code == 404


def test_wrong_name_unknown_id_and_bad_check_digit(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    tokens = login("o-careless", "phone-3")
    frames = frames_for(["left"], turn_frames)
    wrong_name = enrol(client, tokens, frames, name="欧巴")
    assert (wrong_name.status_code, wrong_name.json["error"]["code"]) == (422, "name_mismatch")
    unknown = make_id_number("440305", dt.date(1988, 1, 1), 7)
    no_record = enrol(client, tokens, frames, id_number=unknown)
    assert (no_record.status_code, no_record.json["error"]["code"]) == (404, "no_record")
    bad_digit = OBAMA_ID[:-1] + ("0" if OBAMA_ID[-1] != "0" else "1")
    invalid = enrol(client, tokens, frames, id_number=bad_digit)
    assert (invalid.status_code, invalid.json["error"]["code"]) == (400, "id_number_invalid")


def test_attempt_limits_per_id_number_and_per_openid(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    frames = frames_for(["left"], turn_frames)
    attacker = login("o-prober", "phone-4")
    for _ in range(2):
        assert enrol(client, attacker, frames, name="错名").json["error"]["code"] == "name_mismatch"
    # The ID number is now locked for everyone today, even with the right name and face.
    owner = login("o-obama", "phone-1")
    locked = answer_challenge(client, owner, turn_frames)
    assert (locked.status_code, locked.json["error"]["code"]) == (429, "too_many_attempts")
    # The prober's own account is locked after its third failure, whatever it tries next.
    unknown = make_id_number("440305", dt.date(1988, 1, 1), 7)
    assert enrol(client, attacker, frames, id_number=unknown).json["error"]["code"] == "no_record"
    blocked = enrol(client, attacker, frames, id_number=BIDEN_ID, name=BIDEN_NAME)
    assert (blocked.status_code, blocked.json["error"]["code"]) == (429, "too_many_attempts")


def test_second_enrolment_supersedes_the_first(
    db: Any,
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    tokens = login("o-obama", "phone-1")
    assert answer_challenge(client, tokens, turn_frames).status_code == 201
    assert answer_challenge(client, tokens, turn_frames).status_code == 201
    with db.transaction() as session:
        rows = session.scalars(select(Credential).order_by(Credential.issued_at)).all()
        statuses = [(row.status, row.reason) for row in rows]
    assert statuses == [("superseded", "reissued"), ("active", None)]


def test_replayed_challenge_and_bad_form_input(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    tokens = login("o-obama", "phone-1")
    challenge = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    frames = frames_for(challenge["steps"], turn_frames)
    first = enrol(client, tokens, frames, challenge_id=challenge["challenge_id"])
    assert first.status_code == 201
    again = enrol(client, tokens, frames, challenge_id=challenge["challenge_id"])
    assert again.status_code in (400, 409, 410, 422)
    assert again.json["error"]["code"] == "liveness_challenge_invalid"

    mirror_answer = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    # A photo and its own mirror image: the yaw flips sign, so the motion alone would pass.
    turned = photos["obama2"] if mirror_answer["steps"] == ["left"] else photos["obama3"]
    mirrored_frames = [turned, mirrored(turned)]
    rejected = enrol(client, tokens, mirrored_frames, challenge_id=mirror_answer["challenge_id"])
    assert (rejected.status_code, rejected.json["error"]["code"]) == (422, "liveness_failed")

    one_frame = enrol(client, tokens, frames[:1])
    assert (one_frame.status_code, one_frame.json["error"]["code"]) == (400, "validation_error")
    as_json = client.post(
        "/api/v1/enrollments/light",
        data=json.dumps({"name": OBAMA_NAME}),
        headers=bearer(tokens),
        content_type="application/json",
    )
    assert (as_json.status_code, as_json.json["error"]["code"]) == (415, "unsupported_media_type")
    anonymous = client.post(
        "/api/v1/enrollments/light", data={"name": "x"}, content_type="multipart/form-data"
    )
    assert anonymous.status_code == 401


def test_a_challenge_cannot_be_answered_by_another_account(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    """Account B holding account A's challenge id (leaked, shoulder-surfed) cannot use it."""
    holder = login("o-obama", "phone-1")
    challenge = client.post("/api/v1/liveness/challenges", headers=bearer(holder)).json
    frames = frames_for(challenge["steps"], turn_frames)
    intruder = login("o-intruder", "phone-9")
    stolen = enrol(client, intruder, frames, challenge_id=challenge["challenge_id"])
    assert (stolen.status_code, stolen.json["error"]["code"]) == (
        400,
        "liveness_challenge_invalid",
    )
    assert client.get("/api/v1/credentials/current", headers=bearer(intruder)).status_code == 404
    # The intruder's try did not burn it: the holder still answers their own challenge.
    own = enrol(client, holder, frames, challenge_id=challenge["challenge_id"])
    assert own.status_code == 201, own.json


def test_challenge_timing_reads_the_app_clock(
    app: Any,
    client: Any,
    login: Any,
    registry: None,
    turn_frames: dict[int, bytes],
) -> None:
    """Issue and answer are judged on the app's injectable clock (issue 10), not the wall's."""
    app_clock = clock(app)
    app_clock.set(time.time())
    tokens = login("o-obama", "phone-1")
    late = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    app_clock.advance(CHALLENGE_TTL_S + 1)
    expired = enrol(
        client, tokens, frames_for(late["steps"], turn_frames), challenge_id=late["challenge_id"]
    )
    assert (expired.status_code, expired.json["error"]["code"]) == (
        400,
        "liveness_challenge_invalid",
    )
    timely = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    app_clock.advance(CHALLENGE_TTL_S - 1)
    answered = enrol(
        client,
        tokens,
        frames_for(timely["steps"], turn_frames),
        challenge_id=timely["challenge_id"],
    )
    assert answered.status_code == 201, answered.json
