"""The browser simulator's first steps in headless Chromium, shared by its browser tests.

:func:`simulator_chromium` starts Chromium (Selenium Manager kept offline, a fake camera that
shows nothing useful) with a folder for the test's screenshots; :func:`sign_in_demo_user` logs
in as the first demo person through the WeChat emulator; :func:`enrol_with_samples` answers
the liveness challenge with that person's sample photos. Each step returns only once the page
shows its outcome, and fails (``TimeoutException``) when it does not within ``STEP_TIMEOUT_S``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.handlers.browser_support import chromium, write_y4m

STEP_TIMEOUT_S = 30


@contextmanager
def simulator_chromium(tmp_path: Path, shots_name: str) -> Iterator[tuple[Any, Path]]:
    """A headless Chromium driver and the screenshot folder ``shots_name`` (under
    ``WANGZHENG_SCREENSHOT_DIR``, else the test's tmp dir); the driver quits on the way out."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    shots = Path(os.environ.get("WANGZHENG_SCREENSHOT_DIR") or tmp_path) / shots_name
    shots.mkdir(parents=True, exist_ok=True)
    write_y4m("unused", tmp_path / "camera.y4m")
    driver = chromium(tmp_path / "camera.y4m", tmp_path / "profile")
    try:
        yield driver, shots
    finally:
        driver.quit()


def sign_in_demo_user(driver: Any, base_url: str) -> None:
    """Open the simulator and log in as the first demo person; returns when the enrolment step
    shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, STEP_TIMEOUT_S)
    driver.get(base_url + "/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#people button"))
    driver.find_element(By.CSS_SELECTOR, "#people button").click()
    wait.until(lambda d: d.find_element(By.ID, "s-enrol").is_displayed())


def enrol_with_samples(driver: Any) -> None:
    """Ask for a liveness challenge, answer it with the sample photos and submit; returns when
    the pass step shows (the light credential is issued)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, STEP_TIMEOUT_S)
    driver.find_element(By.ID, "challenge").click()
    wait.until(lambda d: "turn" in d.find_element(By.ID, "steps").text)
    driver.find_element(By.ID, "use-samples").click()
    wait.until(lambda d: d.find_element(By.ID, "submit").is_enabled())
    driver.find_element(By.ID, "submit").click()
    wait.until(lambda d: d.find_element(By.ID, "s-pass").is_displayed())
