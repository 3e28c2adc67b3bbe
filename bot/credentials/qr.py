"""The pass QR: a presentation token drawn as SVG on the server.

Invariants: error correction level M (never micro QR); the light pass is black on white, the
upgraded pass is coloured, so a merchant can tell the level at a glance even before scanning.
"""

from __future__ import annotations

import segno

from bot.vocab import Level

COLOURS: dict[str, tuple[str, str]] = {
    Level.LIGHT: ("#000000", "#ffffff"),
    Level.UPGRADED: ("#0b4f8a", "#fff8e1"),
}


def qr_svg(token: str, level: str, scale: int = 5) -> str:
    """Inline SVG of ``token`` in the colours of ``level``."""
    dark, light = COLOURS.get(level, COLOURS[Level.LIGHT])
    code = segno.make(token, error="m", micro=False, boost_error=False)
    return str(code.svg_inline(scale=scale, border=4, dark=dark, light=light))
