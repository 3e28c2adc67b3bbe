"""Real sample photos for the demo and the tests, taken from packages on PyPI.

Source: the ``face_recognition==1.3.0`` sdist ships ``tests/test_images`` (public-domain White
House photos of Barack Obama and Joe Biden). It is fetched with pip at set-up time (``make run``
and the test fixtures), extracted, and never committed; nothing of its code is run or imported.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
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


def fetch_sample_photos(cache: Path) -> Path:
    """Make sure the sample photos are under ``cache/face_recognition``; returns that folder."""
    target = cache / "face_recognition"
    if all((target / name).is_file() for name in FILES):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{SDIST}.tar.gz"
    if not archive.is_file():
        subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", "--disable-pip-version-check",
                f"face_recognition=={SDIST.split('-')[1]}", "-d", str(cache),
            ],
            check=True,
        )  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(SDIST_IMAGES)
            if member.name.startswith(SDIST_IMAGES) and name in FILES:
                handle = tar.extractfile(member)
                if handle is not None:
                    (target / name).write_bytes(handle.read())
    return target
