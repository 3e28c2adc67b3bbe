"""The pass page shown in the mini-program's web view, and the QR it refreshes.

Invariants:
- The page itself carries no personal data: it is static HTML; its script reads the access
  token from the URL fragment (never sent to the server, never in access logs), keeps it in
  ``sessionStorage`` and fetches the masked view and the QR with a Bearer header.
- The QR is minted for the session's bound device only, inside its unlock window when the
  biometric unlock is on (``bot.devices.presentations.present_credential``), rendered as SVG
  on the server and refreshed by the page every 30 s, before the 60 s token expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIBlueprint
from flask import Response, render_template
from pydantic import Field

from bot.credentials.qr import qr_svg
from bot.devices.presentations import present_credential
from bot.extensions import clock, database, settings, store
from bot.security_headers import SELF, allow
from handlers.auth import citizen_auth, proven_citizen
from handlers.schemas import PRESENTATION_ERRORS, LevelField, Out, Timestamp

pages = APIBlueprint(
    "pages",
    __name__,
    tag="Pass page",
    static_folder="static",
    static_url_path="/static/pages-assets",
)
REFRESH_S = 30


class QrOut(Out):
    """The pass QR as inline SVG (the token is inside it only), its level and refresh time."""

    svg: str
    level: LevelField
    expires_at: Timestamp
    refresh_in: int = Field(description="seconds until the page should fetch a new QR")


# What a page of ours loads: its script and stylesheets from our static files, its API calls to
# us, and the empty ``data:,`` favicon. Headers themselves come from bot.security_headers.
PAGE_SOURCES: Mapping[str, str] = {
    "script_src": SELF,
    "style_src": SELF,
    "connect_src": SELF,
    "img_src": "data:",
}


def html_page(template: str, sources: Mapping[str, str] = PAGE_SOURCES, **context: Any) -> Response:
    """Render ``template``; its CSP allows exactly ``sources`` (on top of default-src 'none')."""
    allow(**sources)
    return Response(render_template(template, **context), mimetype="text/html")


@pages.get("/pass")
@pages.doc(hide=True)
def pass_page() -> Response:
    """The pass: masked name, level, validity, the rotating QR and the latest verifications."""
    return html_page("pass.html", refresh_s=REFRESH_S)


@pages.post("/api/v1/credentials/current/qr")
@pages.auth_required(citizen_auth)
@pages.output(QrOut, status_code=201)
@pages.doc(
    summary="A fresh presentation token drawn as an SVG QR (bound device only)",
    responses=PRESENTATION_ERRORS,
)
def pass_qr() -> tuple[dict[str, Any], int]:
    """``{svg, level, expires_at, refresh_in}``; the token itself is inside the SVG only."""
    principal = proven_citizen()
    with database().transaction() as session:
        minted = present_credential(
            session,
            store(),
            settings(),
            clock(),
            citizen_id=principal.citizen_id,
            openid=principal.openid,
            device_id=principal.device_id,
        )
    return {
        "svg": qr_svg(minted.token, minted.level),
        "level": minted.level,
        "expires_at": minted.expires_at.isoformat(),
        "refresh_in": REFRESH_S,
    }, 201
