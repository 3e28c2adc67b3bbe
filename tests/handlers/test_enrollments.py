"""Light enrolment end to end over HTTP, with real photos and the real model pack.

The registry is filled through ``flask registry import``; the frames answering each issued
challenge are other real photos of the registered person, chosen by their landmark yaw.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import segno
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from bot.extensions import clock
from bot.face.challenges import CHALLENGE_TTL_S
from bot.identity.idnumber import make_id_number
from storage.models.credential import Credential
from tests.bot.face.imaging import FACE_ROOT, mirrored

pytestmark = pytest.mark.face

OBAMA_ID = make_id_number("110101", dt.date(1961, 8, 4), 101)
BIDEN_ID = make_id_number("310104", dt.date(1942, 11, 20), 202)
OBAMA_NAME = "欧巴马"
BIDEN_NAME = "拜登"


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


@pytest.fixture
def registry(
    runner: Any, tmp_path: Path, photos: dict[str, bytes], turn_frames: dict[int, bytes]
) -> None:
    """The holder and Biden (biden.jpg) in the registry, through the import CLI.

    The holder's record keeps the name 欧巴马 from earlier versions of this test, but its photo
    is now a frontal frame of the head-turn video: liveness needs a real head turn from one
    session, and the Obama photos come from different occasions.
    """
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    (photo_dir / "obama.jpg").write_bytes(turn_frames[264])
    (photo_dir / "biden.jpg").write_bytes(photos["biden"])
    csv_path = tmp_path / "records.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "photo", "expires_on"])
        writer.writerow([OBAMA_ID, OBAMA_NAME, "obama.jpg", "2036-01-01"])
        writer.writerow([BIDEN_ID, BIDEN_NAME, "biden.jpg", "2036-01-01"])
    result = runner.invoke(args=["registry", "import", str(csv_path), "--photos", str(photo_dir)])
    assert result.exit_code == 0, result.output
    assert "created=2" in result.output


_ANSWERS = {
    "left": itertools.cycle([(342, 360), (276, 366), (264, 384)]),
    "right": itertools.cycle([(51, 18), (54, 21)]),
}


def _frames_for(steps: list[str], turn_frames: dict[int, bytes]) -> list[bytes]:
    """Two real frames of the holder's head turn, ordered to answer a one-step challenge.

    Landmark yaws are in ``bot.demo.photos.TURN_FRAMES`` (positive = her own left). Each call
    takes the next pair, as a citizen's retry is a new capture: sending the same turned frame
    twice is refused as a replay.
    """
    (step,) = steps
    return [turn_frames[number] for number in next(_ANSWERS[step])]


def _auth(tokens: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token}"}


def _enrol(
    client: Any,
    tokens: Any,
    frames: list[bytes],
    *,
    id_number: str = OBAMA_ID,
    name: str = OBAMA_NAME,
    challenge_id: str | None = None,
) -> Any:
    if challenge_id is None:
        challenge = client.post("/api/v1/liveness/challenges", headers=_auth(tokens))
        assert challenge.status_code == 201, challenge.json
        challenge_id = challenge.json["challenge_id"]
    fields = MultiDict(
        [("name", name), ("id_number", id_number), ("challenge_id", challenge_id)]
        + [
            ("frames", FileStorage(io.BytesIO(frame), f"frame{i}.jpg", content_type="image/jpeg"))
            for i, frame in enumerate(frames)
        ]
    )
    # Encoded up front: the test client would otherwise spool a large body to a temporary file
    # that it never closes.
    boundary, body = encode_multipart(fields)
    return client.post(
        "/api/v1/enrollments/light",
        data=body,
        headers=_auth(tokens),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def _answer(client: Any, tokens: Any, turn_frames: dict[int, bytes], **kwargs: Any) -> Any:
    """Take a challenge and answer it with frames that fit its steps."""
    challenge = client.post("/api/v1/liveness/challenges", headers=_auth(tokens)).json
    frames = _frames_for(challenge["steps"], turn_frames)
    return _enrol(client, tokens, frames, challenge_id=challenge["challenge_id"], **kwargs)


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
    response = _answer(client, tokens, turn_frames)
    assert response.status_code == 201, response.json
    assert response.json["level"] == "light" and response.json["status"] == "active"
    assert response.json["similarity"] >= response.json["threshold"]

    current = client.get("/api/v1/credentials/current", headers=_auth(tokens)).json
    assert current["level"] == "light" and current["valid"] is True
    assert current["masked_name"] == "欧*马"

    minted = client.post("/api/v1/credentials/current/presentations", headers=_auth(tokens))
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
    response = _answer(client, tokens, turn_frames, id_number=BIDEN_ID, name=BIDEN_NAME)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "face_mismatch"
    assert "police station" in response.json["error"]["details"]["hint"]
    assert client.get("/api/v1/credentials/current", headers=_auth(tokens)).status_code == 404


def test_wrong_name_unknown_id_and_bad_check_digit(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    tokens = login("o-careless", "phone-3")
    frames = _frames_for(["left"], turn_frames)
    wrong_name = _enrol(client, tokens, frames, name="欧巴")
    assert (wrong_name.status_code, wrong_name.json["error"]["code"]) == (422, "name_mismatch")
    unknown = make_id_number("440305", dt.date(1988, 1, 1), 7)
    no_record = _enrol(client, tokens, frames, id_number=unknown)
    assert (no_record.status_code, no_record.json["error"]["code"]) == (404, "no_record")
    bad_digit = OBAMA_ID[:-1] + ("0" if OBAMA_ID[-1] != "0" else "1")
    invalid = _enrol(client, tokens, frames, id_number=bad_digit)
    assert (invalid.status_code, invalid.json["error"]["code"]) == (400, "id_number_invalid")


def test_attempt_limits_per_id_number_and_per_openid(
    client: Any,
    login: Any,
    registry: None,
    photos: dict[str, bytes],
    turn_frames: dict[int, bytes],
) -> None:
    frames = _frames_for(["left"], turn_frames)
    attacker = login("o-prober", "phone-4")
    for _ in range(2):
        assert (
            _enrol(client, attacker, frames, name="错名").json["error"]["code"] == "name_mismatch"
        )
    # The ID number is now locked for everyone today, even with the right name and face.
    owner = login("o-obama", "phone-1")
    locked = _answer(client, owner, turn_frames)
    assert (locked.status_code, locked.json["error"]["code"]) == (429, "too_many_attempts")
    # The prober's own account is locked after its third failure, whatever it tries next.
    unknown = make_id_number("440305", dt.date(1988, 1, 1), 7)
    assert _enrol(client, attacker, frames, id_number=unknown).json["error"]["code"] == "no_record"
    blocked = _enrol(client, attacker, frames, id_number=BIDEN_ID, name=BIDEN_NAME)
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
    assert _answer(client, tokens, turn_frames).status_code == 201
    assert _answer(client, tokens, turn_frames).status_code == 201
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
    challenge = client.post("/api/v1/liveness/challenges", headers=_auth(tokens)).json
    frames = _frames_for(challenge["steps"], turn_frames)
    first = _enrol(client, tokens, frames, challenge_id=challenge["challenge_id"])
    assert first.status_code == 201
    again = _enrol(client, tokens, frames, challenge_id=challenge["challenge_id"])
    assert again.status_code in (400, 409, 410, 422)
    assert again.json["error"]["code"] == "liveness_challenge_invalid"

    mirror_answer = client.post("/api/v1/liveness/challenges", headers=_auth(tokens)).json
    # A photo and its own mirror image: the yaw flips sign, so the motion alone would pass.
    turned = photos["obama2"] if mirror_answer["steps"] == ["left"] else photos["obama3"]
    mirrored_frames = [turned, mirrored(turned)]
    rejected = _enrol(client, tokens, mirrored_frames, challenge_id=mirror_answer["challenge_id"])
    assert (rejected.status_code, rejected.json["error"]["code"]) == (422, "liveness_failed")

    one_frame = _enrol(client, tokens, frames[:1])
    assert (one_frame.status_code, one_frame.json["error"]["code"]) == (400, "validation_error")
    as_json = client.post(
        "/api/v1/enrollments/light",
        data=json.dumps({"name": OBAMA_NAME}),
        headers=_auth(tokens),
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
    challenge = client.post("/api/v1/liveness/challenges", headers=_auth(holder)).json
    frames = _frames_for(challenge["steps"], turn_frames)
    intruder = login("o-intruder", "phone-9")
    stolen = _enrol(client, intruder, frames, challenge_id=challenge["challenge_id"])
    assert (stolen.status_code, stolen.json["error"]["code"]) == (
        400,
        "liveness_challenge_invalid",
    )
    assert client.get("/api/v1/credentials/current", headers=_auth(intruder)).status_code == 404
    # The intruder's try did not burn it: the holder still answers their own challenge.
    own = _enrol(client, holder, frames, challenge_id=challenge["challenge_id"])
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
    late = client.post("/api/v1/liveness/challenges", headers=_auth(tokens)).json
    app_clock.advance(CHALLENGE_TTL_S + 1)
    expired = _enrol(
        client, tokens, _frames_for(late["steps"], turn_frames), challenge_id=late["challenge_id"]
    )
    assert (expired.status_code, expired.json["error"]["code"]) == (
        400,
        "liveness_challenge_invalid",
    )
    timely = client.post("/api/v1/liveness/challenges", headers=_auth(tokens)).json
    app_clock.advance(CHALLENGE_TTL_S - 1)
    answered = _enrol(
        client,
        tokens,
        _frames_for(timely["steps"], turn_frames),
        challenge_id=timely["challenge_id"],
    )
    assert answered.status_code == 201, answered.json
