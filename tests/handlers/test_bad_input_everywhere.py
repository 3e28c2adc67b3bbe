"""Every endpoint that takes a body, found from the app itself, answers hostile bodies with a
stable 4xx code and writes nothing. A new body endpoint is covered without editing this file."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.extensions import database, settings
from storage.models import Base
from tests.payments_support import add_agency
from tests.registry_factories import add_merchant

# Short-lived state (rate-limit counters, caches) legitimately changes on any request.
IGNORED_TABLES = {"ephemeral_entries"}
CASES = [
    (b"{not json", "application/json", 400, "malformed_body"),
    (b"[]", "application/json", 400, "validation_error"),
    (b'{"unexpected": true}', "application/json", 400, "validation_error"),
    (b'{"a": 1}', "text/plain", 415, "unsupported_media_type"),
    # 100,000 nested arrays: refused before the (recursive) JSON decoder sees them.
    (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_body"),
    (b'{"a":' * 33 + b"1" + b"}" * 33, "application/json", 400, "malformed_body"),
    (b'{"x": "' + b"a" * 70_000 + b'"}', "application/json", 413, "payload_too_large"),
    (b'{"x": "a\\u0000b"}', "application/json", 400, "invalid_characters"),
    (b'{"x\\u001b": 1}', "application/json", 400, "invalid_characters"),
]
FORM_CASES = [
    (b'{"name": "x"}', "application/json", 415, "unsupported_media_type"),
    (b"--b\r\nbroken", "multipart/form-data; boundary=b", 400, "validation_error"),
    (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nab\x00c\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
        400,
        "invalid_characters",
    ),
]


def body_endpoints(app: Any) -> list[tuple[str, str, str]]:
    """(method, path, content type) of every route that declares a body input."""
    found = []
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "_spec", None) or {}
        if "body" in spec and "<" not in rule.rule:
            method = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})[0]
            found.append((method, rule.rule, str(spec.get("content_type") or "application/json")))
    return sorted(found)


def _counts(app: Any) -> dict[str, int]:
    with database(app).transaction() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if table.name not in IGNORED_TABLES
        }


def _credentials(app: Any, login: Any, path: str) -> dict[str, str]:
    if path.startswith("/api/v1/verify"):
        return {"Authorization": f"Bearer {add_merchant(app).api_key}"}
    if path.startswith("/api/v1/agency/"):
        return add_agency(app, f"agency for {path}").headers
    if path.startswith("/admin/api/"):
        return {"Authorization": f"Bearer {settings(app).admin_key}"}
    return {"Authorization": f"Bearer {login().access_token}"}


def test_the_list_of_body_endpoints_is_what_we_expect(app: Any) -> None:
    paths = {path for _method, path, _type in body_endpoints(app)}
    assert {"/api/v1/mp/login", "/api/v1/verify", "/api/v1/enrollments/light"} <= paths
    assert len(paths) >= 6


def test_hostile_bodies_get_stable_codes_and_write_nothing(
    app: Any, client: Any, login: Any
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    for method, path, content_type in body_endpoints(app):
        headers = _credentials(app, login, path)
        before = _counts(app)
        cases = CASES if content_type == "application/json" else FORM_CASES
        big = b"a" * (limit + 1)
        oversized = (
            (b'{"x": "' + big + b'"}', "application/json", 413, "payload_too_large")
            if content_type == "application/json"
            else (b"--b\r\n" + big, "multipart/form-data; boundary=b", 413, "payload_too_large")
        )
        for body, sent_type, status, code in [*cases, oversized]:
            response = client.open(
                path, method=method, data=body, content_type=sent_type, headers=headers
            )
            assert (response.status_code, response.json["error"]["code"]) == (status, code), (
                path,
                sent_type,
                body[:40],
                response.json,
            )
            assert "Traceback" not in response.get_data(as_text=True)
        assert _counts(app) == before, path


@pytest.mark.parametrize("count", [2])
def test_duplicate_submissions_do_not_duplicate_writes(
    app: Any, client: Any, login: Any, count: int
) -> None:
    """The same preferences sent twice leave one citizen row with the same value."""
    headers = {"Authorization": f"Bearer {login().access_token}"}
    before = _counts(app)
    for _ in range(count):
        response = client.put(
            "/api/v1/me/preferences", json={"notify_on_verification": True}, headers=headers
        )
        assert response.status_code == 200
    assert _counts(app) == before
