"""The pass page's QR, as a phone shows it, scans: screenshot, zxing-cpp, ``/api/v1/verify``.

Real headless Chromium emulates three phone screens (CSS viewport and device pixel ratio). At
each one the test screenshots the pass, checks the QR is whole with its 4-module quiet zone,
decodes the screenshot with zxing-cpp and verifies the decoded token as a merchant: ``valid``,
at the pass's level. Set ``WANGZHENG_SCREENSHOT_DIR`` to keep the PNGs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.handlers.browser_support import chromium, write_y4m
from tests.handlers.pass_qr_support import assert_scans_valid
from tests.handlers.verify_helpers import enrolled, merchant_key

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("level", ["light", "upgraded"])
def test_pass_qr_scans_valid_at_three_phone_sizes(
    app: Any, client: Any, login: Any, live_server: str, tmp_path: Path, level: str
) -> None:
    # No terminal issues upgraded credentials yet, so the upgraded pass is issued here through
    # the credential service itself (issue_credential, which a terminal enrolment will call);
    # nothing of ours is mocked, and the page, the QR endpoint and verify are the real ones.
    os.environ.setdefault("SE_OFFLINE", "true")
    citizen = enrolled(app, login, level=level)
    key = merchant_key(app, name="如家酒店")
    folder = Path(os.environ.get("WANGZHENG_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    write_y4m("unused", tmp_path / "camera.y4m")
    driver = chromium(tmp_path / "camera.y4m", tmp_path / "profile")
    try:
        driver.get(f"{live_server}/pass#access_token={citizen.access_token}")
        assert_scans_valid(driver, client, key, level, folder)
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
    finally:
        driver.quit()
