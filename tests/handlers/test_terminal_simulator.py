"""The terminal simulator page, ``/terminal``: development only, and its demo terminal is real
(its key signs the real terminal API)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from bot.extensions import settings
from tests.bot.face.imaging import FACE_ROOT, to_image
from tests.kit.photos import CACHE
from tests.kit.terminal import TerminalClient


@pytest.fixture
def dev_app(make_app: Any) -> Any:
    """The app in development with the demo photos in place."""
    app = make_app(env="development", face_model_root=FACE_ROOT)
    demo = settings(app).instance_path / "demo"
    shutil.copytree(CACHE / "face_recognition", demo / "face_recognition")
    return app


@pytest.mark.face
def test_the_page_its_demo_terminal_and_cards(dev_app: Any, photos: dict[str, bytes]) -> None:
    client = dev_app.test_client()
    page = client.get("/terminal")
    assert page.status_code == 200 and b"terminal.js" in page.data
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    first = client.post("/terminal/api/setup").json
    second = client.post("/terminal/api/setup").json
    assert first["terminal_id"] == second["terminal_id"] and first["key"] != second["key"]
    signer = TerminalClient(dev_app, client, second["terminal_id"], first["key"])
    assert signer.open().status_code == 401  # the page got a fresh key; the old one stopped
    signer.key = second["key"]
    opened = signer.open()
    assert opened.status_code == 201
    drawn = client.post("/terminal/api/qr", json={"payload": opened.json["qr_payload"]}).json
    assert drawn["svg"].startswith("<svg")
    card = second["cards"][0]
    chip = client.get(card["chip_photo_url"])
    assert chip.status_code == 200 and chip.mimetype == "image/jpeg"
    assert to_image(chip.data).size == (102, 126)
    assert client.get("/terminal/api/chips/nobody.jpg").status_code == 404


def test_there_is_no_terminal_simulator_outside_development(
    client: Any, make_app: Any, production_config: dict[str, Any]
) -> None:
    for app_client in (client, make_app(**production_config).test_client()):
        assert app_client.get("/terminal").status_code == 404
        assert app_client.post("/terminal/api/setup").status_code in (404, 405)
        assert "/terminal/api/setup" not in app_client.get("/openapi.json").json["paths"]
