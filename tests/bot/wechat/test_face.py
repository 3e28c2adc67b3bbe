"""WeChat 人脸核身: the cert_hash rule, verify_ret reasons, and the emulator over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bot.wechat.config import DEV_APP_ID, DEV_APP_SECRET
from bot.wechat.emulator import RunningEmulator
from bot.wechat.emulator.face import (
    ERR_DUPLICATE_SEQ,
    ERR_INVALID_ARGS,
    ERR_NOT_VERIFIED,
    ERR_PARAMS_MISMATCH,
    ERR_VERIFY_ID_EXPIRED,
    ERR_VERIFY_ID_UNKNOWN,
)
from bot.wechat.face import cert_hash, reason_for

ID_NUMBER = "310101199801011234"
NAME = "张三"


def test_cert_hash_matches_wechats_documented_example() -> None:
    """The worked example on WeChat's queryverifyinfo page (张三, 310101199801011234)."""
    expected = "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
    assert cert_hash("IDENTITY_CARD", NAME, ID_NUMBER) == expected
    assert cert_hash("IDENTITY_CARD", "张四", ID_NUMBER) != expected


@pytest.mark.parametrize(
    ("verify_ret", "reason"),
    [
        (10000, "passed"),
        (10003, "identity_mismatch"),
        (10002, "face_mismatch"),
        (10004, "face_mismatch"),
        (10001, "failed"),
        (90002, "not_completed"),
        (90199, "not_completed"),
        (0, "failed"),
    ],
)
def test_verify_ret_reasons(verify_ret: int, reason: str) -> None:
    assert reason_for(verify_ret) == reason


class Api:
    """Raw HTTP calls to the emulator, with a fresh access token."""

    def __init__(self, base: str) -> None:
        self.base = base
        token = requests.get(
            f"{base}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": DEV_APP_ID,
                "secret": DEV_APP_SECRET,
            },
            timeout=30,
        ).json()
        self.token = token["access_token"]

    def post(self, path: str, body: dict[str, Any], token: str | None = "") -> dict[str, Any]:
        params = {"access_token": self.token if token == "" else token} if token is not None else {}
        answer = requests.post(f"{self.base}{path}", params=params, json=body, timeout=30)
        result: dict[str, Any] = answer.json()
        return result

    def start(self, seq: str = "seq-00001", openid: str = "o-zhang") -> dict[str, Any]:
        cert = {"cert_type": "IDENTITY_CARD", "cert_name": NAME, "cert_no": ID_NUMBER}
        body = {"out_seq_no": seq, "cert_info": cert, "openid": openid}
        return self.post("/cityservice/face/identify/getverifyid", body)

    def query(self, verify_id: str, seq: str = "seq-00001", openid: str = "o-zhang") -> Any:
        body = {
            "verify_id": verify_id,
            "out_seq_no": seq,
            "cert_hash": cert_hash("IDENTITY_CARD", NAME, ID_NUMBER),
            "openid": openid,
        }
        return self.post("/cityservice/face/identify/queryverifyinfo", body)


def test_emulator_speaks_both_endpoints(running_emulator: RunningEmulator) -> None:
    face = running_emulator.emulator.face
    face.register(ID_NUMBER, NAME)
    api = Api(running_emulator.base_url)
    assert api.post("/cityservice/face/identify/getverifyid", {}, token=None)["errcode"] == 41001
    started = api.start()
    assert started["errcode"] == 0 and started["expires_in"] == 3600
    verify_id = started["verify_id"]
    assert api.start()["errcode"] == ERR_DUPLICATE_SEQ  # out_seq_no is unique per appid
    assert api.start(seq="bad seq!")["errcode"] == ERR_INVALID_ARGS
    assert api.query(verify_id)["errcode"] == ERR_NOT_VERIFIED  # nobody scanned yet
    assert face.scan(verify_id, "o-zhang") == 10000
    assert api.query(verify_id) == {"errcode": 0, "errmsg": "ok", "verify_ret": 10000}
    assert api.query(verify_id, openid="o-other")["errcode"] == ERR_PARAMS_MISMATCH
    assert api.query(verify_id, seq="seq-99999")["errcode"] == ERR_PARAMS_MISMATCH
    assert api.query("emuverify-unknown")["errcode"] == ERR_VERIFY_ID_UNKNOWN
    face.advance(3600)
    assert api.query(verify_id)["errcode"] == ERR_VERIFY_ID_EXPIRED


def test_emulator_judges_scans_against_its_own_record(
    running_emulator: RunningEmulator,
) -> None:
    face = running_emulator.emulator.face
    api = Api(running_emulator.base_url)
    unknown_person = api.start(seq="seq-00002")["verify_id"]
    assert face.scan(unknown_person, "o-zhang") == 10003  # not in the authority source
    face.register(ID_NUMBER, NAME)
    other_phone = api.start(seq="seq-00003")["verify_id"]
    assert face.scan(other_phone, "o-someone-else") == 10003  # scanned by another WeChat user
    wrong_face = api.start(seq="seq-00004")["verify_id"]
    assert face.scan(wrong_face, "o-zhang", face_matches=False) == 10004
    cancelled = api.start(seq="seq-00005")["verify_id"]
    assert face.scan(cancelled, "o-zhang", verify_ret=90002) == 90002
    assert api.query(cancelled, seq="seq-00005")["verify_ret"] == 90002
    with pytest.raises(KeyError):
        face.scan("emuverify-unknown", "o-zhang")
