"""The merchant scanner page (``/merchant``) and its static files.

Invariants: the QR decoder (jsQR, Apache-2.0) is served from ``handlers/static/vendor`` — never a
CDN; the page keeps the merchant key in ``sessionStorage`` and sends it only as a Bearer header to
``/api/v1/verify`` (no cookie, so no CSRF surface); the page is framed by nobody.
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, render_template

scanner = APIBlueprint(
    "scanner",
    __name__,
    static_folder="static",
    static_url_path="/static/scanner-assets",
    enable_openapi=False,
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@scanner.get("/merchant")
def merchant_page() -> Response:
    """The scanner: log in with the merchant key, scan with the camera or a photo."""
    response = Response(render_template("merchant.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Permissions-Policy"] = "camera=(self)"
    return response
