"""The whole light flow in the browser simulator, in real headless Chromium.

The app runs in development mode on a real socket (so the WeChat emulator is mounted and the
mini-program login goes through ``jscode2session`` over HTTP), with the demo registry seeded by
``flask dev prepare``. The test clicks through: demo user, challenge, sample photos, submit, pass.
The pass it lands on must scan: at three phone sizes, its screenshot decodes (zxing-cpp) to a
token that a merchant verifies ``valid``; then the same for an upgraded pass.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.credentials.service import active_credential, issue_credential
from bot.extensions import database
from bot.vocab import Level
from storage.models.credential import Credential
from tests.handlers.pass_qr_support import assert_scans_valid
from tests.handlers.simulator_support import (
    enrol_with_samples,
    sign_in_demo_user,
    simulator_chromium,
)
from tests.handlers.verify_helpers import merchant_key

pytestmark = [pytest.mark.browser, pytest.mark.face]


def upgrade_in_place(app: Any) -> None:
    """Re-issue the simulator citizen's credential as upgraded, through the credential service.

    The terminal visit in the browser has its own test (``test_terminal_browser.py``); here the
    same pass is re-issued upgraded through ``issue_credential`` (what the terminal's issuance
    calls) for the same subject, account and device, to check the colour pass scans; nothing is
    mocked.
    """
    with database(app).transaction() as session:
        openid = session.scalars(
            select(Credential.openid).where(Credential.status == "active")
        ).one()
        light = active_credential(session, openid)
        assert light is not None and light.level == "light"
        issue_credential(
            session,
            subject_id=light.subject_id,
            level=Level.UPGRADED,
            openid=light.openid,
            device_id=light.device_id,
        )


def test_simulator_light_flow_ends_on_a_pass_that_scans(
    dev_server: tuple[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, app = dev_server
    key = merchant_key(app, name="如家酒店")
    with simulator_chromium(tmp_path, "simulator") as (driver, shots):
        wait = WebDriverWait(driver, 30)
        started = time.perf_counter()
        sign_in_demo_user(driver, base_url)
        enrol_with_samples(driver)
        assert "light" in driver.find_element(By.ID, "enrol-result").text
        driver.get(driver.find_element(By.ID, "pass-link").get_attribute("href"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qr svg"))
        elapsed = time.perf_counter() - started
        assert driver.find_element(By.ID, "name").text == "林*雯"
        assert "light" in driver.find_element(By.ID, "level").text
        assert "access_token" not in driver.current_url  # the fragment is dropped at once
        print(f"simulator: demo user to shown pass in {elapsed:.2f} s")
        assert_scans_valid(driver, app.test_client(), key, "light", shots)
        upgrade_in_place(app)
        assert_scans_valid(driver, app.test_client(), key, "upgraded", shots)
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
