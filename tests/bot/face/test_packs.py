"""Model packs: dequantisation, build, manifest, hashes, never downloading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.face.convert import dequantize_blocks
from bot.face.engine import FaceEngine
from bot.face.errors import FaceModelUnavailable
from bot.face.packs import ensure_pack, pack_status, read_manifest, sha256_file, verify_files
from tests.bot.face.imaging import FACE_ROOT


def test_block_dequantisation_follows_onnx_semantics() -> None:
    quantized = np.array([[1, 2, 3, 4, 5]], dtype=np.int8)
    scale = np.array([[0.5, 2.0, 10.0]], dtype=np.float32)
    zero = np.array([[1, 0, 5]], dtype=np.int8)
    out = dequantize_blocks(quantized, scale, zero, axis=1, block_size=2)
    assert out.tolist() == [[0.0, 0.5, 6.0, 8.0, 0.0]]
    assert out.dtype == np.float32


@pytest.mark.face
def test_built_pack_matches_its_manifest(engine: FaceEngine) -> None:
    manifest = read_manifest(FACE_ROOT / "models" / "yunet-sface")
    raw = json.loads((manifest.path / "manifest.json").read_text())
    assert raw["manifest_version"] == 2
    assert (manifest.path / "MODEL.LICENSE").is_file()
    assert raw["source"]["files"]["detection"]["sha256"] == (
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
    )
    assert raw["source"]["files"]["recognition"]["sha256"] == (
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    )
    assert sha256_file(manifest.path / manifest.recognition.file) == manifest.recognition.sha256
    assert (manifest.recognition.mean, manifest.recognition.std) == (0.0, 1.0)
    assert engine.recogniser.input_mean == 0.0 and engine.recogniser.input_std == 1.0
    assert engine.threshold == raw["threshold"]


@pytest.mark.face
def test_tampered_model_is_refused(engine: FaceEngine, tmp_path: Path) -> None:
    copy = tmp_path / "models" / "yunet-sface"
    shutil.copytree(engine.manifest.path, copy)
    with (copy / engine.manifest.detection.file).open("r+b") as handle:
        handle.seek(-1, 2)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    with pytest.raises(FaceModelUnavailable, match="sha256"):
        verify_files(read_manifest(copy))


def test_unknown_pack_fails_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(FaceModelUnavailable) as caught:
        ensure_pack(tmp_path, "buffalo_l")
    assert str(tmp_path / "models" / "buffalo_l") in caught.value.message
    assert not (tmp_path / "models" / "buffalo_l").exists()  # nothing fetched or created


def test_status_of_an_unbuilt_default_pack_is_ready(tmp_path: Path) -> None:
    status = pack_status(tmp_path, "yunet-sface")
    assert status["built"] is False
    assert status["pack"] == "yunet-sface"
    assert not (tmp_path / "models").exists()  # the probe builds nothing


def test_non_commercial_pack_is_labelled(tmp_path: Path) -> None:
    directory = tmp_path / "models" / "buffalo_l"
    directory.mkdir(parents=True)
    manifest = {
        "manifest_version": 2,
        "model_id": "buffalo_l",
        "license": "MODEL.LICENSE",
        "threshold": 0.3,
        "tasks": {
            "detection": {
                "file": "det_10g.onnx",
                "sha256": "0" * 64,
                "decoder": "scrfd",
                "preprocessing": {"mean": 127.5, "std": 128.0},
            },
            "recognition": {
                "file": "w600k_r50.onnx",
                "sha256": "0" * 64,
                "preprocessing": {"mean": 127.5, "std": 127.5},
            },
        },
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    status = pack_status(tmp_path, "buffalo_l")
    assert status["commercial_use"] is False
    assert "non-commercial" in status["licence"]
    with pytest.raises(FaceModelUnavailable, match="missing"):
        verify_files(read_manifest(directory))
