"""Registry tests use the real face engine on the shared, already built pack and real photos."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bot.face.imaging import FACE_ROOT


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Test apps use the shared face pack."""
    return {**app_config, "face_model_root": FACE_ROOT}
