"""The pass QR: a presentation token drawn as SVG on the server.

Invariants:
- Error correction level M (never micro QR), with the full 4-module quiet zone drawn in the
  light colour inside the SVG itself, so no page background can eat into it.
- The SVG has a ``viewBox`` in modules and no fixed width or height: the page's CSS sizes it
  and it scales to its box whole, quiet zone included, at every size (a fixed-size SVG in a
  smaller box is cropped, and a cropped QR does not scan).
- Dark modules on a light ground in both colour schemes, with a WCAG contrast of at least 7:1.
  The light pass is black on white, the upgraded pass blue on cream, so a merchant can tell the
  level at a glance even before scanning.
"""

from __future__ import annotations

import segno

from bot.vocab import Level

COLOURS: dict[str, tuple[str, str]] = {
    Level.LIGHT: ("#000000", "#ffffff"),
    Level.UPGRADED: ("#0b4f8a", "#fff8e1"),
}
QUIET_ZONE_MODULES = 4


def qr_svg(token: str, level: str) -> str:
    """Inline SVG of ``token`` in the colours of ``level``, one user unit per module."""
    dark, light = COLOURS.get(level, COLOURS[Level.LIGHT])
    code = segno.make(token, error="m", micro=False, boost_error=False)
    svg = str(
        code.svg_inline(
            scale=1,
            border=QUIET_ZONE_MODULES,
            dark=dark,
            light=light,
            omitsize=True,
            svgclass="qr",
            lineclass=None,
        )
    )
    # crispEdges: module edges snap to device pixels instead of blurring into grey seams.
    return svg.replace("<svg ", '<svg role="img" aria-label="QR" shape-rendering="crispEdges" ', 1)
