"""Real test photos, fetched once into ``.cache/testdata`` (never committed).

Sources: the ``face_recognition==1.3.0`` sdist on PyPI (``tests/test_images``: Obama x3, Biden,
partial faces) and the installed ``insightface`` wheel (``Tom_Hanks_54745.png``, the group photo
``t1.jpg``). Use the ``photos`` fixture (``from tests.photos import photos``) in a conftest.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "testdata"
SDIST = "face_recognition-1.3.0"
SDIST_IMAGES = f"{SDIST}/tests/test_images/"
FR_FILES = {
    "obama": "obama.jpg",
    "obama2": "obama2.jpg",
    "obama3": "obama3.jpg",
    "biden": "biden.jpg",
    "obama_partial_face": "obama_partial_face.jpg",
    "obama_partial_face2": "obama_partial_face2.jpg",
}
INSIGHTFACE_FILES = {"tom_hanks": "Tom_Hanks_54745.png", "group": "t1.jpg"}


def _fetch_sdist() -> None:
    """Download the sdist with pip (no code of it is run) and extract only its images."""
    target = CACHE / "face_recognition"
    if all((target / name).is_file() for name in FR_FILES.values()):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"{SDIST}.tar.gz"
    if not archive.is_file():
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", "--disable-pip-version-check",
                f"face_recognition=={SDIST.split('-')[1]}", "-d", str(CACHE),
            ],
            check=True,
        )  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(SDIST_IMAGES)
            if member.name.startswith(SDIST_IMAGES) and name in FR_FILES.values():
                handle = tar.extractfile(member)
                assert handle is not None
                (target / name).write_bytes(handle.read())


def photo_paths() -> dict[str, Path]:
    """Name -> path of every test photo, fetching the sdist if needed."""
    _fetch_sdist()
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations
    images = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    paths = {key: CACHE / "face_recognition" / name for key, name in FR_FILES.items()}
    paths.update({key: images / name for key, name in INSIGHTFACE_FILES.items()})
    return paths


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Name -> bytes of every test photo."""
    return {key: path.read_bytes() for key, path in photo_paths().items()}
