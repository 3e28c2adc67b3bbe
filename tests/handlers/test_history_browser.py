"""The history and the two deletions in the browser simulator, in real headless Chromium.

Clicks through: a demo user enrols (sample photos), the history shows the issuance, then the
fingerprint unlock switched on, used and switched off (three more lines), "delete my
credential" (after its confirm step) ends it, the history shows the deletion and the pass page
no longer shows a pass (but shows the history), a repeat changes nothing, then "delete my
account and data" erases the account (its history rows included) and a repeat changes nothing.
Screenshots go to ``WANGZHENG_SCREENSHOT_DIR`` (or the test's tmp dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.extensions import database
from storage.models.citizen import Citizen
from storage.models.citizen_event import CitizenEvent
from storage.models.credential import Credential
from tests.handlers.simulator_support import (
    enrol_with_samples,
    sign_in_demo_user,
    simulator_chromium,
)

pytestmark = [pytest.mark.browser, pytest.mark.face]


def _count(app: Any, model: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _kinds(driver: Any, list_id: str = "sim-history") -> list[str]:
    """The kinds of a history list's lines, read in one script: the list re-renders on every
    change (and the pass page's on each QR period), so element handles found first could go
    stale before they are read."""
    kinds = driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li[data-kind]'))"
        ".map(function (item) { return item.dataset.kind; });",
        list_id,
    )
    return [str(kind) for kind in kinds]


def _newest_text(driver: Any) -> str:
    """The text of the simulator's newest history line, read in one script (see :func:`_kinds`)."""
    return str(driver.execute_script(
        "var item = document.querySelector('#sim-history li'); return item ? item.innerText : '';"
    ))  # fmt: skip


def _shot(driver: Any, path: Path) -> None:
    """A screenshot with the history section in view."""
    driver.execute_script("document.getElementById('s-history').scrollIntoView();")
    driver.save_screenshot(str(path))


def _confirm(driver: Any, wait: Any, button: str, shots: Path, name: str) -> None:
    """Click a deletion, check the confirm step appears (screenshot), and confirm it."""
    from selenium.webdriver.common.by import By

    driver.execute_script("document.getElementById('del-result').textContent = '';")
    driver.find_element(By.ID, button).click()
    wait.until(lambda d: d.find_element(By.ID, "del-confirm").is_displayed())
    assert "?" in driver.find_element(By.ID, "del-question").text
    _shot(driver, shots / f"{name}-confirm.png")
    driver.find_element(By.ID, "del-yes").click()
    wait.until(lambda d: d.find_element(By.ID, "del-result").text)


def test_history_and_both_deletions_in_the_simulator(
    dev_server: tuple[str, Any],
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base_url, app = dev_server
    with simulator_chromium(tmp_path, "history") as (driver, shots):
        driver.set_window_size(480, 1400)
        wait = WebDriverWait(driver, 30)
        sign_in_demo_user(driver, base_url)
        wait.until(lambda d: d.find_element(By.ID, "s-history").is_displayed())
        wait.until(lambda d: "nothing yet" in d.find_element(By.ID, "sim-history").text)
        enrol_with_samples(driver)
        wait.until(lambda d: _kinds(d) == ["credential_issued"])
        issued = _newest_text(driver)
        assert "Credential issued (light)" in issued and "browser-simulator" in issued
        _shot(driver, shots / "1-issued.png")
        pass_url = driver.find_element(By.ID, "pass-link").get_attribute("href")

        # The fingerprint unlock (the simulator's SOTER step) switched on, used, switched off:
        # three lines, each as it happens.
        driver.find_element(By.ID, "unlock-pref").click()
        wait.until(lambda d: _kinds(d)[0] == "unlock_enabled")
        driver.find_element(By.ID, "unlock").click()
        wait.until(lambda d: _kinds(d)[0] == "unlock_verified")
        driver.find_element(By.ID, "unlock-pref").click()
        wait.until(lambda d: _kinds(d)[0] == "unlock_disabled")
        unlock_lines = ["unlock_disabled", "unlock_verified", "unlock_enabled", "credential_issued"]
        assert _kinds(driver) == unlock_lines
        _shot(driver, shots / "1b-unlock.png")

        _confirm(driver, wait, "del-credential", shots, "2-credential")
        assert "Credential deleted" in driver.find_element(By.ID, "del-result").text
        wait.until(lambda d: _kinds(d) == ["credential_ended", *unlock_lines])
        assert "deleted by you" in _newest_text(driver)
        assert not driver.find_element(By.ID, "s-pass").is_displayed()
        _shot(driver, shots / "3-credential-deleted.png")
        with database(app).transaction() as session:
            (ended,) = session.scalars(select(Credential)).all()
            assert (ended.status, ended.reason) == ("revoked", "deleted_by_holder")

        _confirm(driver, wait, "del-credential", shots, "4-credential-again")
        assert "nothing changed" in driver.find_element(By.ID, "del-result").text
        assert _kinds(driver) == ["credential_ended", *unlock_lines]

        # The pass page, in another tab: no pass any more, and the history tells why.
        simulator_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(pass_url)
        wait.until(lambda d: d.find_element(By.ID, "qr").text == "no_credential")
        wait.until(lambda d: _kinds(d, "history") == ["credential_ended", *unlock_lines])
        assert not driver.find_elements(By.CSS_SELECTOR, "#qr svg")
        driver.save_screenshot(str(shots / "5-pass-gone.png"))
        driver.close()
        driver.switch_to.window(simulator_tab)

        _confirm(driver, wait, "del-account", shots, "6-account")
        assert (
            "Account erased: 0 credential(s) ended" in driver.find_element(By.ID, "del-result").text
        )
        wait.until(lambda d: "account erased" in d.find_element(By.ID, "sim-history").text)
        _shot(driver, shots / "7-account-erased.png")
        assert (_count(app, Citizen), _count(app, CitizenEvent)) == (0, 0)
        _confirm(driver, wait, "del-account", shots, "8-account-again")
        assert "nothing changed" in driver.find_element(By.ID, "del-result").text

        # The only console errors are the expected refusals: the erased account's 401s and the
        # pass page's 404 for a credential that no longer exists.
        severe = [
            entry["message"]
            for entry in driver.get_log("browser")
            if entry.get("level") == "SEVERE"
            and "status of 401" not in entry["message"]
            and "status of 404" not in entry["message"]
        ]
        assert severe == []
