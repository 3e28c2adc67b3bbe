"""The merchant scanner page in real headless Chromium with a fake camera showing a pass QR.

Chromium (Debian ``chromium`` + ``chromium-driver``) reads a Y4M video rendered from a real
presentation token; the page decodes it with the vendored jsQR and calls the verify API. The
first scan must show "valid", the second scan of the same QR "replayed".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import segno

from tests.handlers.browser_support import chromium, write_y4m
from tests.handlers.verify_helpers import enrolled, fetch_token, merchant_key

pytestmark = pytest.mark.browser


def test_scanner_shows_valid_then_replayed(
    app: Any, client: Any, login: Any, live_server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    citizen = enrolled(app, login)
    key = merchant_key(app, name="如家酒店")
    video = tmp_path / "pass-qr.y4m"
    write_y4m(fetch_token(client, citizen.access_token), video)
    driver = chromium(video, tmp_path / "profile")
    try:
        wait = WebDriverWait(driver, 30)
        driver.get(live_server + "/merchant")
        driver.find_element(By.ID, "merchant-key").send_keys(key)
        driver.find_element(By.ID, "login-button").click()
        driver.find_element(By.ID, "start-camera").click()
        result = driver.find_element(By.ID, "result")
        wait.until(lambda _: result.get_attribute("data-result"))
        assert result.get_attribute("data-result") == "valid", result.text
        assert "valid" in driver.find_element(By.ID, "result-title").text
        assert "light" in driver.find_element(By.ID, "result-fields").text
        driver.find_element(By.ID, "scan-again").click()
        wait.until(lambda _: result.get_attribute("data-reason") == "replayed")
        assert "invalid" in driver.find_element(By.ID, "result-title").text
        assert "replayed" in driver.find_element(By.ID, "result-fields").text
        logs = driver.get_log("browser") if hasattr(driver, "get_log") else []
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
    finally:
        driver.quit()


def test_scanner_reads_an_uploaded_photo(
    app: Any, client: Any, login: Any, live_server: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    citizen = enrolled(app, login)
    key = merchant_key(app, name="Bank", category="bank")
    photo = tmp_path / "qr.png"
    segno.make(fetch_token(client, citizen.access_token), error="m").save(str(photo), scale=6)
    write_y4m("unused", tmp_path / "blank.y4m")
    driver = chromium(tmp_path / "blank.y4m", tmp_path / "profile")
    try:
        driver.get(live_server + "/merchant")
        driver.find_element(By.ID, "merchant-key").send_keys(key)
        driver.find_element(By.ID, "login-button").click()
        Select(driver.find_element(By.ID, "scope")).select_by_value("name_masked")
        driver.find_element(By.ID, "photo").send_keys(str(photo))
        result = driver.find_element(By.ID, "result")
        WebDriverWait(driver, 30).until(lambda _: result.get_attribute("data-result") == "valid")
        assert "张*明" in driver.find_element(By.ID, "result-fields").text
    finally:
        driver.quit()


def test_page_serves_its_own_decoder_under_a_strict_csp(client: Any) -> None:
    page = client.get("/merchant")
    html = page.get_data(as_text=True)
    assert (
        page.status_code == 200 and "default-src 'none'" in page.headers["Content-Security-Policy"]
    )
    assert "//cdn" not in html and "https://" not in html
    script = client.get("/static/scanner-assets/vendor/jsqr/jsQR.js")
    try:
        assert script.status_code == 200 and b"jsQR" in script.data
    finally:
        script.close()
