"""Headless Chromium and live servers for the browser tests (a pytest plugin, ``tests/conftest``).

:func:`chromium` drives Debian's Chromium through chromedriver with a fake camera playing a Y4M
video (:func:`write_y4m` renders a token's QR into one). The fixtures serve an app on a real
loopback socket in a thread: ``live_server`` the test's app, ``dev_server`` a development-mode
app with the demo registry (``flask dev prepare``), so the WeChat emulator is mounted and the
mini-program login goes through ``jscode2session`` over HTTP.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image
from werkzeug.serving import make_server

from bot.extensions import settings
from tests.bot.face.imaging import FACE_ROOT
from tests.faults import free_port
from tests.kit.photos import CACHE

CHROMIUM = os.environ.get("WANGZHENG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("WANGZHENG_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDTH, HEIGHT = 640, 480


def write_y4m(token: str, path: Path, frames: int = 5) -> None:
    """A still Y4M (4:2:0) video of the token's QR, black on white, centred."""
    buffer = io.BytesIO()
    segno.make(token, error="m", micro=False).save(buffer, kind="png", scale=5, border=4)
    qr = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    canvas = Image.new("RGB", (WIDTH, HEIGHT), "white")
    canvas.paste(qr, ((WIDTH - qr.width) // 2, (HEIGHT - qr.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    frame = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            handle.write(b"FRAME\n" + frame)


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The test app on a real socket, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def chromium(video: Path, profile: Path) -> Any:
    """Headless Chromium driven by chromedriver, with the fake camera."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture
def dev_server(make_app: Any, photos: dict[str, bytes]) -> Iterator[tuple[str, Any]]:
    """A development-mode app with the demo registry, served on a free loopback port."""
    port = free_port()
    app = make_app(
        env="development",
        bind=f"127.0.0.1:{port}",
        face_model_root=FACE_ROOT,
        face_liveness_steps=1,
    )
    demo = settings(app).instance_path / "demo"
    shutil.copytree(CACHE / "face_recognition", demo / "face_recognition")
    prepared = app.test_cli_runner().invoke(args=["dev", "prepare"])
    assert prepared.exit_code == 0 and "created=3" in prepared.output, prepared.output
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app
    server.shutdown()
    thread.join(timeout=5)
