"""Real test photos as fixtures; where they come from and where they are cached is
``tests.kit.photos`` (shared with the face benchmarks). The root conftest loads the ``photos`` and
``turn_frames`` fixtures for every test (``pytest_plugins``).
"""

from __future__ import annotations

import pytest

from tests.kit.photos import photo_paths, turn_frame_paths


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Name -> bytes of every test photo."""
    return {key: path.read_bytes() for key, path in photo_paths().items()}


@pytest.fixture(scope="session")
def turn_frames() -> dict[int, bytes]:
    """Frame number -> JPEG bytes of real frames of one real head turn, from one session."""
    return {n: path.read_bytes() for n, path in turn_frame_paths().items()}
