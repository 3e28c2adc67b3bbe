"""The scanner page's "with face" mode (刷證 + 刷臉) in real headless Chromium: the pass QR, then
a photo of the person at the counter; the holder's face is ``valid`` with ``face: match``, someone
else's is ``invalid`` with ``face_mismatch``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import segno

from tests.handlers.browser_support import chromium, write_y4m
from tests.handlers.verify_helpers import Citizen, fetch_token
from tests.kit.photos import photo_paths

pytestmark = [pytest.mark.browser, pytest.mark.face]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The shared face pack."""
    from tests.bot.face.imaging import FACE_ROOT

    return {**app_config, "face_model_root": FACE_ROOT}


@pytest.mark.parametrize(("face", "outcome"), [("obama2", "match"), ("biden", "face_mismatch")])
def test_the_scanner_checks_the_face_at_the_counter(
    client: Any,
    holder: Citizen,
    counter_key: str,
    live_server: str,
    tmp_path: Path,
    face: str,
    outcome: str,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    os.environ.setdefault("SE_OFFLINE", "true")
    qr = tmp_path / "qr.png"
    segno.make(fetch_token(client, holder.access_token), error="m").save(str(qr), scale=6)
    write_y4m("unused", tmp_path / "blank.y4m")
    driver = chromium(tmp_path / "blank.y4m", tmp_path / "profile")
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(live_server + "/merchant")
        driver.find_element(By.ID, "merchant-key").send_keys(counter_key)
        driver.find_element(By.ID, "login-button").click()
        Select(driver.find_element(By.ID, "required-level")).select_by_value("upgraded")
        driver.find_element(By.ID, "with-face").click()
        driver.find_element(By.ID, "photo").send_keys(str(qr))
        wait.until(lambda d: d.find_element(By.ID, "face-step").is_displayed())
        driver.find_element(By.ID, "face-photo").send_keys(str(photo_paths()[face]))
        result = driver.find_element(By.ID, "result")
        wait.until(lambda _: result.get_attribute("data-result"))
        fields = driver.find_element(By.ID, "result-fields").text
        if outcome == "match":
            assert result.get_attribute("data-result") == "valid", fields
            assert "match" in fields and "upgraded" in fields
        else:
            assert result.get_attribute("data-reason") == outcome, fields
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
    finally:
        driver.quit()
