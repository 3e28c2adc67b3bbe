"""``/docs``: Swagger UI on our ``/openapi.json``, served from our own static files.

APIFlask's built-in docs page (``docs_ui="swagger-ui"``, the default) loads Swagger UI from
a CDN by default (``SWAGGER_UI_BUNDLE_JS``, ``SWAGGER_UI_CSS``, ``DOCS_FAVICON``). Those settings
could point at local files, but its template also carries an inline ``<style>`` and an inline
``<script>`` (with ``new Function``), which only ``'unsafe-inline'``/``'unsafe-eval'`` would let
run. So the app is built with ``docs_path=None`` and this page takes its place.

Invariants: Swagger UI (``handlers/static/vendor/swagger-ui``, swagger-ui-dist, Apache-2.0) and
its starter script are ours to serve; the page references no external host, and its CSP allows
scripts, styles and requests to ``'self'`` only (plus ``data:`` images, which Swagger UI's
stylesheet uses for its icons).
"""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app

from bot.security_headers import SELF
from handlers.pages import html_page

api_docs = APIBlueprint("api_docs", __name__, enable_openapi=False)
DOCS_SOURCES = {
    "script_src": SELF,
    "style_src": SELF,
    "connect_src": SELF,
    "img_src": f"{SELF} data:",
}


@api_docs.get("/docs")
def docs() -> Response:
    """The interactive API reference."""
    app = current_app
    return html_page(
        "docs.html",
        DOCS_SOURCES,
        title=getattr(app, "title", "Wangzheng"),
        version=getattr(app, "version", ""),
    )
