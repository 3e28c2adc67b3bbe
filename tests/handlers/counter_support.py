"""The counter check's fixtures (a pytest plugin: ``tests/conftest.py``): an upgraded ``holder``
whose registry reference is Obama's photo, and a government counter's ``counter_key`` granted
the face capability. A module using ``holder`` gives its app the face pack (``app_config``)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.extensions import database
from bot.extensions import settings as app_settings
from bot.face.service import get_engine
from bot.identity.registry import store_embedding
from tests.handlers.verify_helpers import Citizen, enrolled, merchant_key


@pytest.fixture
def holder(app: Any, login: Any, photos: dict[str, bytes]) -> Citizen:
    """An upgraded holder whose registry reference is Obama's photo."""
    citizen = enrolled(app, login, level="upgraded")
    engine = get_engine(app_settings(app))
    reference = engine.analyse(photos["obama"], purpose="reference").embedding
    with database(app).transaction() as session:
        store_embedding(session, citizen.subject_id, engine.pack_id, reference)
    return citizen


@pytest.fixture
def counter_key(app: Any, runner: Any) -> str:
    """A government counter's key, granted the face capability through the CLI."""
    key_merchant = merchant_key(app, name="District hall", category="government")
    listed = runner.invoke(args=["merchants", "list"]).output.split()
    granted = runner.invoke(args=["merchants", "capabilities", listed[0], "face"])
    assert granted.exit_code == 0 and "capabilities=face" in granted.output
    return key_merchant
