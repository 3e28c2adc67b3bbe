"""The pass QR's SVG: it scales whole, quiet zone included, and keeps dark-on-light contrast."""

from __future__ import annotations

import io
import re

import pytest
import segno
import zxingcpp
from PIL import Image

from bot.credentials.qr import COLOURS, qr_svg

TOKEN = "eyJhbGciOiJFUzI1NiJ9." + "a" * 180 + "." + "b" * 86  # the length of a real token


def long_hex(colour: str) -> str:
    """``#fff`` as ``#ffffff`` (segno writes the short form when it can)."""
    return "#" + "".join(c * 2 for c in colour[1:]) if len(colour) == 4 else colour


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("level", ["light", "upgraded"])
def test_svg_scales_to_its_box_with_the_whole_quiet_zone(level: str) -> None:
    svg = qr_svg(TOKEN, level)
    opening = svg[: svg.index(">")]
    version = int(segno.make(TOKEN, error="m", micro=False, boost_error=False).version)
    side = 17 + 4 * version + 2 * 4  # modules plus a 4-module quiet zone each side
    assert f'viewBox="0 0 {side} {side}"' in opening
    assert not re.search(r"\s(width|height)=", opening)  # the page's CSS sizes it
    dark, light = COLOURS[level]
    # The light ground, quiet zone included, is drawn by the SVG itself over the whole viewBox.
    ground = re.search(rf'<path fill="(#\w+)" d="M0 0h{side}v{side}h-{side}z"/>', svg)
    modules = re.search(r'<path stroke="(#\w+)"', svg)
    assert ground and modules
    assert (long_hex(ground[1]), long_hex(modules[1])) == (light, dark)


@pytest.mark.parametrize("level", sorted(COLOURS))
def test_colours_are_dark_on_light_with_strong_contrast(level: str) -> None:
    dark, light = COLOURS[level]
    contrast = (luminance(light) + 0.05) / (luminance(dark) + 0.05)
    assert contrast >= 7, f"{level}: contrast {contrast:.1f}:1"


@pytest.mark.parametrize("level", sorted(COLOURS))
def test_a_decoder_reads_each_colour_scheme_without_inverting(level: str) -> None:
    dark, light = COLOURS[level]
    buffer = io.BytesIO()
    segno.make(TOKEN, error="m", micro=False).save(
        buffer, kind="png", scale=3, border=4, dark=dark, light=light
    )
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    found = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode), try_invert=False
    )
    assert [code.text for code in found] == [TOKEN]
