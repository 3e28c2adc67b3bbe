"""Light enrolment over HTTP with real photos, shared by the enrolment tests: the registry
(``registry``: the holder and Biden, through ``flask registry import``), and the steps of one
enrolment (take a liveness challenge, answer it with real frames of the holder's head turn).
A module using them gives its app the face pack and one head turn (``app_config``). A pytest
plugin (``tests/conftest.py``), for the fixture."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from bot.identity.idnumber import make_id_number

OBAMA_ID = make_id_number("110101", dt.date(1961, 8, 4), 101)
BIDEN_ID = make_id_number("310104", dt.date(1942, 11, 20), 202)
OBAMA_NAME = "欧巴马"
BIDEN_NAME = "拜登"


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


def frames_for(steps: list[str], turn_frames: dict[int, bytes]) -> list[bytes]:
    """Two real frames of the holder's head turn, ordered to answer a one-step challenge.

    Landmark yaws are in ``bot.demo.photos.TURN_FRAMES`` (positive = her own left). Each call
    takes the next pair, as a citizen's retry is a new capture: sending the same turned frame
    twice is refused as a replay.
    """
    (step,) = steps
    return [turn_frames[number] for number in next(_ANSWERS[step])]


def bearer(tokens: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token}"}


def enrol(
    client: Any,
    tokens: Any,
    frames: list[bytes],
    *,
    id_number: str = OBAMA_ID,
    name: str = OBAMA_NAME,
    challenge_id: str | None = None,
) -> Any:
    if challenge_id is None:
        challenge = client.post("/api/v1/liveness/challenges", headers=bearer(tokens))
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
        headers=bearer(tokens),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def answer_challenge(client: Any, tokens: Any, turn_frames: dict[int, bytes], **kwargs: Any) -> Any:
    """Take a challenge and answer it with frames that fit its steps."""
    challenge = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    frames = frames_for(challenge["steps"], turn_frames)
    return enrol(client, tokens, frames, challenge_id=challenge["challenge_id"], **kwargs)
