"""``flask face compare``, ``calibrate`` and ``build-pack``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.kit.photos import photo_paths

pytestmark = pytest.mark.face


def test_compare_same_person(runner: Any, engine: Any) -> None:
    paths = photo_paths()
    result = runner.invoke(args=["face", "compare", str(paths["obama"]), str(paths["obama2"])])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["decision"] == "match"
    assert body["pack"] == "yunet-sface"
    assert body["similarity"] > body["threshold"] == engine.threshold


def test_compare_different_people(runner: Any) -> None:
    paths = photo_paths()
    result = runner.invoke(args=["face", "compare", str(paths["obama"]), str(paths["biden"])])
    assert json.loads(result.output)["decision"] == "no_match"


def test_compare_reports_a_gate_error(runner: Any, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_bytes(b"not a photo")
    result = runner.invoke(args=["face", "compare", str(text), str(photo_paths()["obama"])])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"]["code"] == "image_invalid"


def test_calibrate_small_folder(runner: Any, tmp_path: Path) -> None:
    paths = photo_paths()
    layout = {
        "obama": ["obama", "obama2", "obama3", "obama_partial_face", "obama_partial_face2"],
        "biden": ["biden"],
    }
    for identity, names in layout.items():
        (tmp_path / identity).mkdir()
        for name in names:
            shutil.copy(paths[name], tmp_path / identity / paths[name].name)
    # A 56 px copy of a 112 px crop: its eyes (19 px) are below even the reference size gate.
    (tmp_path / "hanks_unusable").mkdir()
    Image.open(paths["tom_hanks"]).resize((56, 56)).save(
        tmp_path / "hanks_unusable" / paths["tom_hanks"].name
    )
    result = runner.invoke(args=["face", "calibrate", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "not supported" in result.output
    assert "skipped hanks_unusable/Tom_Hanks_54745.png: face_too_small" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["genuine_stats"]["count"] == 10
    assert report["impostor_stats"]["count"] == 5
    assert min(report["genuine"]) > max(report["impostor"])
    assert all(entry["threshold"] is None for entry in report["thresholds"])
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_build_pack_is_idempotent(runner: Any) -> None:
    result = runner.invoke(args=["face", "build-pack"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pack"] == "yunet-sface"
