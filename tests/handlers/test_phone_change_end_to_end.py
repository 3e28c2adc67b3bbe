"""Phone A to phone B, end to end against the WeChat emulator over real HTTP (issue 12).

Everything goes through the public API with real photos and the real model pack: both phones
sign in with ``wx.login`` codes the emulator exchanges (``jscode2session``), each proving its own
P-256 key; the pass is enrolled with a liveness challenge answered by real head-turn frames; the
card pack and the message go to the emulator, which records what it was asked.

1. Phone A enrols, adds the pass to the card pack and fetches a presentation token.
2. Phone B signs in to the same WeChat account, proving its own key.
3. A's token now verifies as ``superseded``, and A's session is gone.
4. The emulator recorded ``card/code/unavailable`` for A's card code, and a message.
5. B enrols again and B's token verifies as ``valid``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from bot.wechat.config import DEV_TEMPLATES
from bot.wechat.emulator.server import Emulator
from tests.bot.face.imaging import FACE_ROOT
from tests.handlers.enrol_steps import OBAMA_ID, OBAMA_NAME
from tests.handlers.verify_helpers import merchant_key, verify
from tests.kit.device import TestDevice

pytestmark = pytest.mark.face

LOGIN = "/api/v1/mp/login"
# Pairs of real head-turn frames (by landmark yaw, see bot.demo.photos.TURN_FRAMES) answering a
# one-step challenge; each enrolment takes a fresh pair, as a phone captures new frames.
_PAIRS = {"left": [(342, 360), (276, 366)], "right": [(51, 18), (54, 21)]}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack, and one head turn per challenge (the photos answer one)."""
    return {**app_config, "face_model_root": FACE_ROOT, "face_liveness_steps": 1}


@pytest.fixture
def registry(wechat_app: Any, tmp_path: Path, turn_frames: dict[int, bytes]) -> None:
    """The holder in the registry, through ``flask registry import``."""
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    (photo_dir / "holder.jpg").write_bytes(turn_frames[264])
    csv_path = tmp_path / "records.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id_number", "name", "photo", "expires_on"])
        writer.writerow([OBAMA_ID, OBAMA_NAME, "holder.jpg", "2036-01-01"])
    runner = wechat_app.test_cli_runner()
    result = runner.invoke(args=["registry", "import", str(csv_path), "--photos", str(photo_dir)])
    assert result.exit_code == 0 and "created=1" in result.output, result.output


class Phone:
    """One mini-program install: its key, its session, and what the citizen does on it."""

    def __init__(self, client: Any, device_id: str, model: str) -> None:
        self.client = client
        self.device = TestDevice(device_id, model=model)
        self.access_token = ""

    @property
    def auth(self) -> dict[str, str]:
        """The bearer header of this phone's session."""
        return {"Authorization": f"Bearer {self.access_token}"}

    def sign_in(self, code: str) -> dict[str, Any]:
        """``wx.login`` then our login, proving this install's key."""
        answer = self.client.post(LOGIN, json=self.device.login_body(self.client, code))
        assert answer.status_code == 200, answer.get_json()
        body: dict[str, Any] = answer.get_json()
        self.access_token = body["access_token"]
        return body

    def enrol(self, turn_frames: dict[int, bytes], pairs: dict[str, list[tuple[int, int]]]) -> Any:
        """Take a liveness challenge and answer it with a fresh pair of real frames."""
        challenge = self.client.post("/api/v1/liveness/challenges", headers=self.auth)
        assert challenge.status_code == 201, challenge.get_json()
        (step,) = challenge.get_json()["steps"]
        frames = [turn_frames[number] for number in pairs[step].pop(0)]
        fields = MultiDict(
            [
                ("name", OBAMA_NAME),
                ("id_number", OBAMA_ID),
                ("challenge_id", challenge.get_json()["challenge_id"]),
            ]
            + [
                ("frames", FileStorage(io.BytesIO(f), f"f{i}.jpg", content_type="image/jpeg"))
                for i, f in enumerate(frames)
            ]
        )
        boundary, body = encode_multipart(fields)
        return self.client.post(
            "/api/v1/enrollments/light",
            data=body,
            headers=self.auth,
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    def add_card(self, emulator: Emulator, openid: str) -> str:
        """Add the pass to the card pack: our ``cardExt``, then ``wx.addCard`` on WeChat's side,
        which checks its signature."""
        answer = self.client.post("/api/v1/credentials/current/card", headers=self.auth)
        assert answer.status_code == 201, answer.get_json()
        body = answer.get_json()
        return emulator.add_card_with_ext(openid, body["card_id"], body["card_ext"])

    def presentation(self) -> Any:
        """Ask for a presentation token (the QR on the pass page)."""
        return self.client.post("/api/v1/credentials/current/presentations", headers=self.auth)


def test_a_new_phone_ends_the_old_phones_pass_and_enrols_afresh(
    wechat_app: Any,
    emulator: Emulator,
    registry: None,
    turn_frames: dict[int, bytes],
) -> None:
    pairs = {step: list(values) for step, values in _PAIRS.items()}
    key = merchant_key(wechat_app)
    phone_a = Phone(wechat_app.test_client(), "install-phone-a", "iPhone 13")
    phone_b = Phone(wechat_app.test_client(), "install-phone-b", "HUAWEI Mate 60")
    openid = emulator.openid_for("holder")

    # 1. Phone A signs in, enrols, adds the card and shows its QR.
    phone_a.sign_in("dev:holder")
    enrolled = phone_a.enrol(turn_frames, pairs)
    assert enrolled.status_code == 201, enrolled.get_json()
    code_a = phone_a.add_card(emulator, openid)
    minted_a = phone_a.presentation()
    assert minted_a.status_code == 201, minted_a.get_json()
    token_a = minted_a.get_json()["token"]
    status, answer = verify(wechat_app.test_client(), key, token_a)
    assert (status, answer["result"]) == (200, "valid")
    token_a_again = phone_a.presentation().get_json()["token"]
    unavailable_before = len(emulator.calls_to("/card/code/unavailable"))
    messages_before = len(emulator.messages)

    # 2. Phone B signs in to the same WeChat account with its own key.
    phone_b.sign_in("dev:holder")

    # 3. A's token is superseded, and A's session can no longer mint one.
    status, answer = verify(wechat_app.test_client(), key, token_a_again)
    assert (status, answer["result"], answer.get("reason")) == (200, "invalid", "superseded")
    assert phone_a.presentation().status_code == 401

    # 4. The emulator was asked to make A's card unavailable, and a message went to the holder.
    removed = emulator.calls_to("/card/code/unavailable")[unavailable_before:]
    assert [(call.body or {}).get("code") for call in removed] == [code_a]
    assert emulator.cards[code_a].status == "UNAVAILABLE"
    sent = emulator.messages[messages_before:]
    assert [(m["touser"], m["template_id"]) for m in sent] == [
        (openid, DEV_TEMPLATES["credential_removed"])
    ]

    # B has no pass until it enrols; 5. then B's token verifies.
    assert phone_b.presentation().status_code == 404
    again = phone_b.enrol(turn_frames, pairs)
    assert again.status_code == 201, again.get_json()
    code_b = phone_b.add_card(emulator, openid)
    assert code_b != code_a
    token_b = phone_b.presentation().get_json()["token"]
    status, answer = verify(wechat_app.test_client(), key, token_b)
    assert (status, answer["result"]) == (200, "valid")
    assert verify(wechat_app.test_client(), key, token_a)[1]["result"] == "invalid"
    assert emulator.cards[code_b].status == "NORMAL"
