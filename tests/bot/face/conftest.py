"""Face fixtures: one engine per session on a pack built once into ``.cache/face``."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import Settings
from bot.face.engine import FaceEngine
from bot.face.service import get_engine
from tests.bot.face.imaging import FACE_ROOT


@pytest.fixture(scope="session")
def face_settings() -> Settings:
    """Default face settings on the shared cache root."""
    return Settings(env="testing", face_model_root=FACE_ROOT)


@pytest.fixture(scope="session")
def engine(face_settings: Settings) -> FaceEngine:
    """The default-pack engine, loaded (and the pack built) once per session."""
    return get_engine(face_settings)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Test apps use the shared, already built face pack."""
    return {**app_config, "face_model_root": FACE_ROOT}
