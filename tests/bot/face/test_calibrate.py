"""Threshold arithmetic of the calibration, and the process-wide engine cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.config import Settings
from bot.face.calibrate import threshold_at
from bot.face.service import get_engine


def test_threshold_at_far_lets_through_at_most_far_n() -> None:
    impostor = [i / 10_000 for i in range(10_000)]  # 0.0000 .. 0.9999
    value = threshold_at(impostor, 1e-3)
    accepted = sum(score >= value for score in impostor)
    assert accepted <= 10
    assert value == pytest.approx(0.999, abs=1e-3)


@pytest.mark.face
def test_engine_is_loaded_once_per_process(face_settings: Settings) -> None:
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: get_engine(face_settings), range(8)))
    assert all(engine is engines[0] for engine in engines)
