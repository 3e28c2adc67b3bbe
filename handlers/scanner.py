"""The merchant scanner page (``/merchant``) and its static files.

Invariants: the QR decoder (jsQR, Apache-2.0) is served from ``handlers/static/vendor`` — never a
CDN; the page keeps the merchant key in ``sessionStorage`` and sends it only as a Bearer header to
``/api/v1/verify`` (no cookie, so no CSRF surface); the page is framed by nobody.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response

from handlers.pages import html_page

scanner = APIBlueprint(
    "scanner",
    __name__,
    static_folder="static",
    static_url_path="/static/scanner-assets",
    enable_openapi=False,
)


@scanner.get("/merchant")
def merchant_page() -> Response:
    """The scanner: log in with the merchant key, scan with the camera or a photo."""
    # The camera frame goes to a canvas and an uploaded photo through createImageBitmap: neither
    # is an <img> or a media URL, so the page needs no more than any other page of ours.
    return html_page("merchant.html")
