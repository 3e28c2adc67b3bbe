"""The pack manifest's optional passive PAD slot, with a tiny ONNX model made here.

The model scores a face by its mean brightness (0..1): not a detector of anything, but a real
ONNX graph that onnxruntime runs through the real slot, so a threshold below the genuine
frames' brightness accepts and one above refuses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from bot.face.engine import FaceEngine
from bot.face.errors import FaceModelUnavailable, PresentationAttackSuspected
from bot.face.liveness import Requester, new_challenge, verify_liveness
from bot.face.packs import read_manifest, sha256_file
from bot.face.service import limits_from_settings
from tests.bot.face.imaging import FACE_ROOT

pytestmark = pytest.mark.face
ME = Requester(citizen_id=3, device_id="phone-3")


def brightness_model(path: Path) -> None:
    """``live = mean(input)`` over an NCHW float image: mean brightness after /255."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["live"], axes=[1, 2, 3], keepdims=0)],
        "brightness",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("live", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def pad_pack(root: Path, threshold: float | None) -> Path:
    """The default pack plus the brightness PAD model in its ``antispoof`` slot."""
    directory = root / "models" / "pad-test"
    shutil.copytree(FACE_ROOT / "models" / "yunet-sface", directory)
    brightness_model(directory / "pad.onnx")
    manifest = json.loads((directory / "manifest.json").read_text())
    slot: dict[str, Any] = {
        "file": "pad.onnx",
        "sha256": sha256_file(directory / "pad.onnx"),
        "preprocessing": {"mean": 0.0, "std": 255.0},
        "input_size": [112, 112],
    }
    if threshold is not None:
        slot["threshold"] = threshold
    manifest["tasks"]["antispoof"] = slot
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def _answer(store: Any, engine: FaceEngine, frames: list[bytes]) -> Any:
    challenge = new_challenge(store, steps=1, requester=ME)
    key = f"face:challenge:{challenge.id}"
    record = json.loads(store.get(key))
    store.set(key, json.dumps({**record, "steps": ["left"]}), 60)
    return verify_liveness(store, engine, challenge.id, frames, requester=ME)


def test_default_pack_has_no_pad_model(engine: FaceEngine) -> None:
    assert engine.antispoof is None


@pytest.mark.parametrize(("threshold", "accepted"), [(0.2, True), (0.95, False)])
def test_a_pack_pad_model_runs_on_every_frame(
    tmp_path: Path,
    face_settings: Any,
    store: Any,
    turn_frames: dict[int, bytes],
    threshold: float,
    accepted: bool,
) -> None:
    engine = FaceEngine(
        read_manifest(pad_pack(tmp_path, threshold)), limits_from_settings(face_settings)
    )
    assert engine.antispoof is not None and engine.antispoof.threshold == threshold
    frames = [turn_frames[342], turn_frames[360]]
    sample = engine.analyse(frames[0], purpose="selfie")
    from bot.face.images import decode_image

    image = decode_image(frames[0], max_bytes=10**8, max_pixels=10**8)
    score = engine.antispoof.live_score(image, sample)
    assert score == pytest.approx(float(sample.aligned.mean()) / 255, abs=1e-3)
    if accepted:
        assert _answer(store, engine, frames).steps == ("left",)
    else:
        with pytest.raises(PresentationAttackSuspected) as caught:
            _answer(store, engine, frames)
        assert caught.value.code == "presentation_attack_suspected"
        assert caught.value.status == 422 and caught.value.details == {"frame": 0}


def test_a_pad_slot_without_threshold_or_with_a_wrong_hash_is_refused(
    tmp_path: Path, face_settings: Any
) -> None:
    limits = limits_from_settings(face_settings)
    with pytest.raises(FaceModelUnavailable, match="threshold"):
        FaceEngine(read_manifest(pad_pack(tmp_path / "a", None)), limits)
    directory = pad_pack(tmp_path / "b", 0.5)
    (directory / "pad.onnx").write_bytes((directory / "pad.onnx").read_bytes() + b"\0")
    with pytest.raises(FaceModelUnavailable, match="sha256"):
        FaceEngine(read_manifest(directory), limits)


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path_factory: Any) -> dict[str, Any]:
    """Apps of this module load the PAD pack with a threshold no frame reaches."""
    root = tmp_path_factory.mktemp("pad-root")
    pad_pack(root, 0.95)
    return {**app_config, "face_model_root": root, "face_model_pack": "pad-test",
            "face_liveness_steps": 1}  # fmt: skip


def test_enrolment_runs_the_pack_pad_model(
    client: Any, login: Any, runner: Any, tmp_path: Path, turn_frames: dict[int, bytes]
) -> None:
    from tests.handlers.enrol_steps import OBAMA_ID, OBAMA_NAME, bearer, enrol

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holder.jpg").write_bytes(turn_frames[264])
    (tmp_path / "records.csv").write_text(
        f"id_number,name,photo,expires_on\n{OBAMA_ID},{OBAMA_NAME},holder.jpg,2036-01-01\n"
    )
    imported = runner.invoke(
        args=["registry", "import", str(tmp_path / "records.csv"), "--photos", str(photos)]
    )
    assert "created=1" in imported.output, imported.output
    tokens = login("o-pad", "phone-pad")
    challenge = client.post("/api/v1/liveness/challenges", headers=bearer(tokens)).json
    numbers = (342, 360) if challenge["steps"] == ["left"] else (51, 18)
    frames = [turn_frames[n] for n in numbers]
    response = enrol(client, tokens, frames, challenge_id=challenge["challenge_id"])
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "presentation_attack_suspected"
    assert client.get("/api/v1/credentials/current", headers=bearer(tokens)).status_code == 404
