"""Phone viewports for the pass page, and what a camera would read from its screenshots.

A screenshot of the pass at a phone's CSS viewport and device pixel ratio (Chrome's device
metrics emulation, so the PNG has the phone's physical pixels) is decoded with zxing-cpp, an
independent decoder, as a merchant's scanner would see the screen. Inversion is off: the pass
must scan as dark-on-light.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image

from tests.handlers.verify_helpers import verify


@dataclass(frozen=True)
class Phone:
    """A phone screen: CSS viewport and device pixel ratio."""

    name: str
    width: int
    height: int
    ratio: float


PHONES = (
    Phone("360x640@2", 360, 640, 2.0),
    Phone("390x844@3", 390, 844, 3.0),
    Phone("412x915@2.625", 412, 915, 2.625),
)
LIGHT_MIN_LUMA = 200  # both pass backgrounds (#ffffff, #fff8e1) are far above this
DARK_MAX_LUMA = 110  # both module colours (#000000, #0b4f8a) are far below this

QR_GEOMETRY_JS = """
const svg = document.querySelector('#qr svg');
const box = svg.getBoundingClientRect();
return {left: box.left, top: box.top, width: box.width, height: box.height,
        viewBox: svg.getAttribute('viewBox'), ratio: window.devicePixelRatio,
        innerWidth: window.innerWidth, innerHeight: window.innerHeight};
"""


def emulate(driver: Any, phone: Phone) -> None:
    """Make the browser a phone screen (CSS viewport, device pixel ratio, mobile layout)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": phone.width,
            "height": phone.height,
            "deviceScaleFactor": phone.ratio,
            "mobile": True,
        },
    )


@dataclass(frozen=True)
class Shot:
    """A screenshot of the pass and the QR's place in it, in device pixels."""

    image: Image.Image
    grey: Image.Image
    left: float
    top: float
    size: float
    modules: int  # the QR's side in modules, quiet zone included

    def luma(self, module_x: float, module_y: float) -> int:
        """Grey level at a point given in modules from the QR's top-left corner."""
        step = self.size / self.modules
        point = (int(self.left + module_x * step), int(self.top + module_y * step))
        return int(self.grey.getpixel(point))  # type: ignore[arg-type]


def screenshot(driver: Any, phone: Phone, path: Path) -> Shot:
    """Screenshot the viewport; checks the QR is square, whole and on screen without scrolling."""
    geometry = driver.execute_script(QR_GEOMETRY_JS)
    assert geometry["ratio"] == phone.ratio, geometry
    assert (geometry["innerWidth"], geometry["innerHeight"]) == (phone.width, phone.height)
    match = re.fullmatch(r"0 0 (\d+) (\d+)", geometry["viewBox"] or "")
    assert match and match[1] == match[2], f"the QR has no square viewBox: {geometry}"
    assert abs(geometry["width"] - geometry["height"]) < 1, geometry
    assert geometry["width"] >= 200, f"QR smaller than 200 CSS px on {phone.name}: {geometry}"
    assert geometry["left"] >= 0 and geometry["top"] >= 0, geometry
    assert geometry["left"] + geometry["width"] <= phone.width, geometry
    assert geometry["top"] + geometry["height"] <= phone.height, geometry
    # Selenium logs each response at DEBUG; a screenshot's megabytes of base64 would go through
    # the log redaction's regexes, which are slow on very long runs. Keep that one out of the log.
    wire = logging.getLogger("selenium.webdriver.remote.remote_connection")
    level = wire.level
    wire.setLevel(logging.INFO)
    try:
        png = driver.get_screenshot_as_png()
    finally:
        wire.setLevel(level)
    path.write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert abs(image.width - phone.width * phone.ratio) <= 1, (image.size, phone)
    return Shot(
        image,
        image.convert("L"),
        geometry["left"] * phone.ratio,
        geometry["top"] * phone.ratio,
        geometry["width"] * phone.ratio,
        int(match[1]),
    )


def assert_quiet_zone(shot: Shot) -> None:
    """The 4-module border is light all round, and all three finder patterns are there.

    Points sit at module centres (never on an edge, where anti-aliasing blends colours).
    """
    n = shot.modules
    quiet = 4
    border = [
        (x + 0.5, y + 0.5)
        for x in range(n)
        for y in range(n)
        if min(x, y, n - 1 - x, n - 1 - y) < quiet
    ]
    dark_border = [point for point in border if shot.luma(*point) < LIGHT_MIN_LUMA]
    assert not dark_border, f"quiet zone not light at module(s) {dark_border[:5]}"
    for x, y in ((4.5, 4.5), (n - 4.5, 4.5), (4.5, n - 4.5)):  # finder patterns' outer corners
        assert shot.luma(x, y) < DARK_MAX_LUMA, f"finder pattern missing at module ({x}, {y})"


def decode(shot: Shot) -> str:
    """The one QR code zxing-cpp reads in the screenshot (dark-on-light only).

    zxing-cpp may report one symbol more than once (seen once in CI on the colour pass: two hits,
    one page). So the check is on what a scanner would act on: exactly one distinct text, and
    every hit centred inside the box where the page drew its QR, so no other code on the screen
    and no stale one elsewhere can pass for it.
    """
    found = zxingcpp.read_barcodes(
        shot.image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode), try_invert=False
    )
    texts = {str(hit.text) for hit in found}
    assert len(texts) == 1, f"{len(texts)} distinct QR codes in {len(found)} zxing-cpp hits"
    for hit in found:
        corners = (
            hit.position.top_left,
            hit.position.top_right,
            hit.position.bottom_right,
            hit.position.bottom_left,
        )
        centre_x = sum(point.x for point in corners) / 4
        centre_y = sum(point.y for point in corners) / 4
        assert shot.left <= centre_x <= shot.left + shot.size, (centre_x, shot)
        assert shot.top <= centre_y <= shot.top + shot.size, (centre_y, shot)
    return texts.pop()


def assert_scans_valid(driver: Any, client: Any, key: str, level: str, folder: Path) -> None:
    """At every phone size: reload the pass (a fresh QR), screenshot, decode, verify ``valid``."""
    from selenium.webdriver.support.ui import WebDriverWait

    seen: set[str] = set()
    for phone in PHONES:
        emulate(driver, phone)
        driver.refresh()
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script(
                "return !!document.querySelector('#qr svg') &&"
                " document.getElementById('pass').classList.contains(arguments[0])",
                level,
            )
        )
        shot = screenshot(driver, phone, folder / f"pass-{level}-{phone.name}.png")
        assert_quiet_zone(shot)
        token = decode(shot)
        assert token not in seen  # each page load shows a freshly minted presentation
        seen.add(token)
        status, body = verify(client, key, token)
        assert status == 200 and body["result"] == "valid", (phone, body)
        assert body["level"] == level, (phone, body)
