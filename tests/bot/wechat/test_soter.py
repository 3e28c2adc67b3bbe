"""The emulator's ``soter/verify_signature`` over real HTTP, and our adapter's reading of it.

The emulator verifies SHA256withRSA/PSS (salt 20) signatures for real with the openid's key;
the adapter (``bot.wechat.soter``) is reached through the domain's protocol, as the app
factory installed it.
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.devices.soter import soter_verifier
from bot.errors import WangzhengError
from bot.wechat.config import DEV_APP_ID, DEV_APP_SECRET
from bot.wechat.emulator import RunningEmulator
from bot.wechat.emulator.server import Emulator
from bot.wechat.emulator.soter import SoterAuthority, SoterResult, pss

PATH = "/cgi-bin/soter/verify_signature"


def _token(base_url: str) -> str:
    answer = requests.get(
        base_url + "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": DEV_APP_ID, "secret": DEV_APP_SECRET},
        timeout=30,
    ).json()
    return str(answer["access_token"])


def _post(base_url: str, token: str | None, body: Any) -> dict[str, Any]:
    params = {"access_token": token} if token else {}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    answer: dict[str, Any] = requests.post(
        base_url + PATH, params=params, data=data, timeout=30
    ).json()
    return answer


def test_the_emulator_verifies_for_real(running_emulator: RunningEmulator) -> None:
    base, emulator = running_emulator.base_url, running_emulator.emulator
    token = _token(base)
    signed = emulator.soter.authenticate("o-alice", "challenge-1")
    result = json.loads(signed.result_json)
    assert result["raw"] == "challenge-1" and result["counter"] == 1
    assert {"fid", "tee_n", "tee_v", "fp_n", "fp_v", "cpu_id", "uid"} <= set(result)
    assert len(base64.b64decode(signed.result_json_signature)) == 256  # RSA-2048
    body = {
        "openid": "o-alice",
        "json_string": signed.result_json,
        "json_signature": signed.result_json_signature,
    }
    assert _post(base, token, body) == {"errcode": 0, "errmsg": "ok", "is_ok": True}
    assert _post(base, token, {**body, "json_string": signed.result_json + " "})["is_ok"] is False
    assert _post(base, token, {**body, "openid": "o-bob"})["is_ok"] is False  # no key there
    emulator.soter.authenticate("o-bob", "challenge-2")
    assert _post(base, token, {**body, "openid": "o-bob"})["is_ok"] is False  # another key
    assert _post(base, token, {**body, "json_signature": "%%%"})["is_ok"] is False
    # A signature by some other RSA key (PKCS#1 v1.5 or PSS alike) over the same JSON.
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048).sign(
        signed.result_json.encode(), pss(), hashes.SHA256()
    )
    forged_body = {**body, "json_signature": base64.b64encode(forged).decode()}
    assert _post(base, token, forged_body)["is_ok"] is False
    assert emulator.soter.authenticate("o-alice", "c3").result_json.count('"counter":2') == 1


@pytest.mark.parametrize(
    ("token", "body", "errcode"),
    [
        (None, {"openid": "o", "json_string": "{}", "json_signature": "x"}, 41001),
        ("EMU1.wx.bad", {"openid": "o", "json_string": "{}", "json_signature": "x"}, 40001),
        ("valid", {"openid": "o", "json_string": "{}"}, 47001),
        ("valid", {"openid": 1, "json_string": "{}", "json_signature": "x"}, 47001),
        ("valid", b"", 44002),
        ("valid", b"[1, 2]", 47001),
    ],
)
def test_the_emulator_refuses_bad_calls_like_wechat(
    running_emulator: RunningEmulator, token: str | None, body: Any, errcode: int
) -> None:
    base = running_emulator.base_url
    real = _token(base) if token == "valid" else token
    assert _post(base, real, body)["errcode"] == errcode


def test_the_adapter_reads_wechat_answers(wechat_app: Any, emulator: Emulator) -> None:
    verifier = soter_verifier(wechat_app)
    signed = emulator.soter.authenticate("o-alice", "c")
    args = {
        "result_json": signed.result_json,
        "result_json_signature": signed.result_json_signature,
    }
    assert verifier.verify(openid="o-alice", **args) is True
    assert verifier.verify(openid="o-carol", **args) is False
    emulator.fail(PATH, 40003)  # WeChat refuses the call (invalid openid): it vouches for nothing
    assert verifier.verify(openid="o-alice", **args) is False
    emulator.fail(PATH, 45009)  # the daily quota
    with pytest.raises(WangzhengError) as quota:
        verifier.verify(openid="o-alice", **args)
    assert quota.value.status == 503 and quota.value.headers["Retry-After"] == "60"
    emulator.fail(PATH, 45011)  # the minute quota
    with pytest.raises(WangzhengError) as limited:
        verifier.verify(openid="o-alice", **args)
    assert limited.value.status == 429
    emulator.fail(PATH, 40001)  # a stale token is refreshed once, then the call goes through
    assert verifier.verify(openid="o-alice", **args) is True


def test_workers_sharing_a_key_folder_verify_each_others_signatures(tmp_path: Path) -> None:
    """The development server runs several workers, each with its own emulator: a key made by
    one (the phone's TEE, at unlock) must verify in another (WeChat's check), and two workers
    making the first key at once end with one key."""
    workers = [SoterAuthority(tmp_path) for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    results: list[SoterResult] = []

    def unlock(worker: SoterAuthority) -> None:
        barrier.wait()
        results.append(worker.authenticate("o-shared", "challenge-1"))

    threads = [threading.Thread(target=unlock, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(tmp_path.iterdir())) == 1
    for result in results:
        body = {"openid": "o-shared", "json_string": result.result_json,
                "json_signature": result.result_json_signature}  # fmt: skip
        assert all(worker.verify_signature(body)["is_ok"] for worker in workers)
    alone = SoterAuthority()  # no shared folder: another worker's key is unknown to it
    signed = results[0]
    body = {"openid": "o-shared", "json_string": signed.result_json,
            "json_signature": signed.result_json_signature}  # fmt: skip
    assert alone.verify_signature(body)["is_ok"] is False
