"""The whole terminal visit in two browser tabs of real headless Chromium.

Tab one is the terminal simulator (``/terminal``): it signs its requests in the page, opens a
session and shows its QR. The test reads that QR from the tab's pixels with zxing-cpp, as the
phone's camera would, and pastes it in tab two, the mini-program simulator (``/``), logged in as
the demo person Obama, who claims the session and sets a password. Back in tab one it picks
Obama's demo ID card (a 102 x 126 chip photo) and a live face (another Obama photo) and reads
the card. Tab two's pass then shows the colour pass, and its QR, read from the screen, verifies
``valid`` at ``required_level: upgraded`` at three phone sizes.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from tests.handlers.browser_support import chromium, write_y4m
from tests.handlers.pass_qr_support import assert_scans_valid
from tests.handlers.verify_helpers import merchant_key

pytestmark = [pytest.mark.browser, pytest.mark.face]
PASSWORD = "27364159"


def _qr_on_screen(driver: Any, path: Path) -> str:
    """The one QR code zxing-cpp reads in a screenshot of the tab (kept at ``path``).

    One distinct text, not one hit: zxing-cpp may report one symbol twice (``decode`` in
    ``pass_qr_support.py`` says more).
    """
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    shot = Image.open(io.BytesIO(png)).convert("L")
    found = zxingcpp.read_barcodes(
        np.asarray(shot), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    texts = {str(hit.text) for hit in found}
    assert len(texts) == 1, f"{len(texts)} distinct QR codes in {len(found)} zxing-cpp hits"
    return texts.pop()


def test_a_terminal_visit_in_the_browser_ends_on_a_colour_pass(
    dev_server: tuple[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    os.environ.setdefault("SE_OFFLINE", "true")
    base_url, app = dev_server
    key = merchant_key(app, name="市场监管局", category="government")
    shots = Path(os.environ.get("WANGZHENG_SCREENSHOT_DIR") or tmp_path) / "terminal"
    shots.mkdir(parents=True, exist_ok=True)
    write_y4m("unused", tmp_path / "camera.y4m")
    driver = chromium(tmp_path / "camera.y4m", tmp_path / "profile")
    try:
        wait = WebDriverWait(driver, 60)
        started = time.perf_counter()
        driver.set_window_size(1000, 1400)
        driver.get(base_url + "/terminal")
        terminal_tab = driver.current_window_handle
        wait.until(lambda d: d.find_element(By.ID, "open").is_enabled())
        driver.find_element(By.ID, "open").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qr svg"))
        payload = _qr_on_screen(driver, shots / "terminal-qr.png")
        assert payload == driver.find_element(By.ID, "qr-payload").text
        assert payload.startswith("WZT1.")

        driver.switch_to.new_window("tab")
        driver.get(base_url + "/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#people button"))
        obama = [b for b in driver.find_elements(By.CSS_SELECTOR, "#people button")
                 if "(obama)" in b.text]  # fmt: skip
        obama[0].click()
        wait.until(lambda d: d.find_element(By.ID, "s-terminal").is_displayed())
        driver.find_element(By.ID, "tv-payload").send_keys(payload)
        driver.find_element(By.ID, "tv-claim").click()
        wait.until(lambda d: d.find_element(By.ID, "tv-set").is_enabled())
        driver.find_element(By.ID, "tv-password").send_keys(PASSWORD)
        driver.find_element(By.ID, "tv-set").click()
        wait.until(lambda d: "ready" in d.find_element(By.ID, "tv-result").text)
        simulator_tab = driver.current_window_handle

        driver.switch_to.window(terminal_tab)
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
        Select(driver.find_element(By.ID, "card")).select_by_visible_text("欧巴马 (obama)")
        Select(driver.find_element(By.ID, "live")).select_by_value("obama2.jpg")
        wait.until(lambda d: d.find_element(By.ID, "live-preview").is_displayed())
        wait.until(lambda d: d.find_element(By.ID, "read").is_enabled())
        driver.find_element(By.ID, "read").click()
        wait.until(lambda d: d.find_element(By.ID, "result").text)
        result = driver.find_element(By.ID, "result").text
        assert "upgraded" in result and "similarity" in result, result
        wait.until(lambda d: d.find_element(By.ID, "status").text == "issued")

        driver.switch_to.window(simulator_tab)
        driver.get(driver.find_element(By.ID, "pass-link").get_attribute("href"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qr svg"))
        assert "upgraded" in driver.find_element(By.ID, "level").text
        print(f"terminal visit in the browser: {time.perf_counter() - started:.2f} s")
        assert_scans_valid(driver, app.test_client(), key, "upgraded", shots)
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
    finally:
        driver.quit()
