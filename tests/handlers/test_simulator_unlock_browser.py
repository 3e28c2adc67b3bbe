"""The fingerprint unlock in the browser simulator, in real headless Chromium.

The ``dev_server`` of ``tests/handlers/browser_support.py`` (WeChat emulator mounted, demo
registry): enrol with the sample photos, switch "unlock with fingerprint" on, see the pass
refused until the unlock, press "Unlock with fingerprint" (the emulator's SOTER key of this
openid signs the challenge, WeChat's ``soter/verify_signature`` checks it over HTTP), then open
the pass: its screenshot decodes (zxing-cpp) to a token carrying ``amr: ["fpt"]`` that a
merchant verifies ``valid``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.handlers.pass_qr_support import PHONES, decode, emulate, screenshot
from tests.handlers.simulator_support import (
    enrol_with_samples,
    sign_in_demo_user,
    simulator_chromium,
)
from tests.handlers.verify_helpers import merchant_key, split, verify

pytestmark = [pytest.mark.browser, pytest.mark.face]


def test_unlock_with_fingerprint_before_the_pass_shows(
    dev_server: tuple[str, Any],
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, app = dev_server
    client = app.test_client()
    key = merchant_key(app, name="如家酒店")
    with simulator_chromium(tmp_path, "simulator-unlock") as (driver, shots):
        wait = WebDriverWait(driver, 30)
        sign_in_demo_user(driver, base_url)
        enrol_with_samples(driver)

        # Switch the unlock on: the unlock step appears, and the pass is refused until it is done.
        assert not driver.find_element(By.ID, "unlock-pref").is_selected()
        driver.find_element(By.ID, "unlock-pref").click()
        wait.until(lambda d: d.find_element(By.ID, "unlock-step").is_displayed())
        pass_url = driver.find_element(By.ID, "pass-link").get_attribute("href")
        access_token = unquote(pass_url.split("#access_token=", 1)[1])
        headers = {"Authorization": f"Bearer {access_token}"}
        assert client.get("/api/v1/me/preferences", headers=headers).json["unlock_with"] == (
            "fingerprint"
        )
        locked = client.post("/api/v1/credentials/current/qr", headers=headers)
        assert (locked.status_code, locked.json["error"]["code"]) == (403, "unlock_required")
        simulator_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")  # the pass, opened before the unlock: no QR
        driver.get(pass_url)
        wait.until(lambda d: d.find_element(By.ID, "qr").text == "unlock_required")
        assert not driver.find_elements(By.CSS_SELECTOR, "#qr svg")
        assert "unlock" in driver.find_element(By.ID, "status").text
        driver.save_screenshot(str(shots / "pass-locked.png"))
        driver.close()
        driver.switch_to.window(simulator_tab)

        started = time.perf_counter()
        driver.find_element(By.ID, "unlock").click()
        wait.until(lambda d: "Unlocked" in d.find_element(By.ID, "unlock-result").text)
        unlocked_in = time.perf_counter() - started
        assert "amr fpt" in driver.find_element(By.ID, "unlock-result").text
        driver.execute_script("document.getElementById('s-pass').scrollIntoView()")
        driver.save_screenshot(str(shots / "simulator-unlocked.png"))
        print(f"simulator: unlock button to verified unlock in {unlocked_in:.2f} s")

        phone = PHONES[1]
        emulate(driver, phone)
        driver.get(pass_url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qr svg"))
        shot = screenshot(driver, phone, shots / f"pass-unlocked-{phone.name}.png")
        token = decode(shot)
        assert split(token)[1]["amr"] == ["fpt"]
        status, body = verify(client, key, token)
        assert status == 200 and body["result"] == "valid", body
        logs = driver.get_log("browser")
        expected = "/api/v1/credentials/current/qr - Failed to load resource: the server " + (
            "responded with a status of 403"
        )  # the locked pass, on purpose
        severe = [entry for entry in logs if entry.get("level") == "SEVERE"]
        assert [entry for entry in severe if expected not in entry["message"]] == [], logs
        assert len(severe) == 1, logs
