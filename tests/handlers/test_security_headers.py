"""One hook puts the CSP and the security headers on every response; no page needs inline code.

Pages, the simulator, ``/docs``, JSON answers, the spec, static files and error pages (404 and
500, HTML and JSON) are all checked, so a response that escapes the hook fails here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.config import PROJECT_ROOT
from bot.security_headers import ALWAYS, allow
from tests.handlers.browser_support import chromium, write_y4m

HTML = {"Accept": "text/html"}
TEMPLATES = sorted((PROJECT_ROOT / "templates").glob("*.html"))


def directives(response: Any) -> dict[str, list[str]]:
    """The response's CSP as ``{directive: [sources]}``."""
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def assert_locked_down(response: Any) -> dict[str, list[str]]:
    """Every header of :data:`ALWAYS`, and a CSP from default-src 'none' with nothing unsafe."""
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (name, response.headers)
    policy = directives(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    sources = {source for values in policy.values() for source in values}
    assert not sources & {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"}, policy
    return policy


PAGE = {
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "connect-src": ["'self'"],
    "img-src": ["data:"],
}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/pass", PAGE),
        ("/merchant", PAGE),
        ("/docs", {**PAGE, "img-src": ["'self'", "data:"]}),
    ],
)
def test_each_page_gets_exactly_its_sources(
    client: Any, path: str, wanted: dict[str, list[str]]
) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 200
    policy = assert_locked_down(response)
    assert {k: v for k, v in policy.items() if k.endswith("-src") and k != "default-src"} == wanted


def test_the_simulator_page_may_show_blob_frames(make_app: Any) -> None:
    response = make_app(env="development").test_client().get("/", headers=HTML)
    assert response.status_code == 200
    assert assert_locked_down(response)["img-src"] == ["blob:", "data:"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/openapi.json", "/.well-known/jwks.json", "/api/v1/nothing-here"]
)
def test_json_answers_may_load_nothing(client: Any, path: str) -> None:
    policy = assert_locked_down(client.get(path))
    assert set(policy) == {"default-src", "base-uri", "form-action", "frame-ancestors"}


def test_static_files_carry_the_headers_too(client: Any) -> None:
    response = client.get("/static/pages-assets/base.css")
    try:
        assert response.status_code == 200
        assert set(assert_locked_down(response)) == {
            "default-src", "base-uri", "form-action", "frame-ancestors",
        }  # fmt: skip
    finally:
        response.close()


def test_error_pages_carry_the_headers_and_load_only_their_stylesheet(app: Any) -> None:
    def boom() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/boom", "boom", boom)
    client = app.test_client()
    for path, status in (("/no-such-page", 404), ("/boom", 500)):
        page = client.get(path, headers=HTML)
        assert page.status_code == status and page.mimetype == "text/html"
        policy = assert_locked_down(page)
        assert policy["style-src"] == ["'self'"] and "script-src" not in policy
        assert b"/static/pages-assets/base.css" in page.data
        api = client.get(path, headers={"Accept": "application/json"})
        assert api.status_code == status and api.is_json
        assert_locked_down(api)


def test_a_view_cannot_allow_unsafe_sources(app: Any) -> None:
    with app.test_request_context("/"):
        for unsafe in ("'unsafe-inline'", "'self' 'unsafe-eval'", "*"):
            with pytest.raises(ValueError, match="never allowed"):
                allow(script_src=unsafe)


class _Inline(HTMLParser):
    """Collects inline scripts, <style> elements, style= attributes and on*= handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [
            f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")
        ]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_template_holds_inline_script_or_style(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    parser = _Inline()
    parser.feed(text)
    assert parser.found == [], template.name
    assert not re.search(r"style\s*=", text, re.IGNORECASE)


def test_templates_are_all_checked() -> None:
    assert {path.name for path in TEMPLATES} >= {
        "base.html", "error.html", "pass.html", "merchant.html", "simulator.html", "docs.html",
    }  # fmt: skip


class _Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value or "" for name, value in attrs if name in ("src", "href")]


def test_docs_are_served_from_our_own_static_files(client: Any) -> None:
    page = client.get("/docs", headers=HTML)
    html = page.get_data(as_text=True)
    links = _Links()
    links.feed(html)
    assert len(links.links) >= 4, links.links  # favicon, two stylesheets, two scripts
    for link in links.links:
        assert link == "data:," or (link.startswith("/") and not link.startswith("//")), link
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for link in links.links[1:]:
        asset = client.get(link)
        try:
            assert asset.status_code == 200, link
        finally:
            asset.close()
    starter = client.get("/static/pages-assets/docs/docs.js")
    try:
        assert b"SwaggerUIBundle" in starter.data and b"http" not in starter.data
    finally:
        starter.close()


@pytest.mark.browser
def test_docs_render_in_chromium_without_a_csp_violation(live_server: str, tmp_path: Path) -> None:
    """Swagger UI really runs under the strict policy (Chromium logs any violation as SEVERE)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    write_y4m("unused", tmp_path / "camera.y4m")
    driver = chromium(tmp_path / "camera.y4m", tmp_path / "profile")
    try:
        driver.get(live_server + "/docs")
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")
        )
        assert "Wangzheng" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info").text
        logs = driver.get_log("browser")
        assert not [entry for entry in logs if entry.get("level") == "SEVERE"], logs
    finally:
        driver.quit()
