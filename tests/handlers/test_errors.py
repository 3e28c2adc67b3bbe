"""The central error handling, exercised through a probe blueprint that writes then validates."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from bot.errors import Conflict
from bot.extensions import database
from storage.models.ephemeral import EphemeralEntry


class Probe(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str
    count: int


def _probe_blueprint() -> APIBlueprint:
    bp = APIBlueprint("probe", __name__)

    @bp.post("/api/v1/_probe")
    @bp.input(Probe)
    def probe(json_data: Probe) -> dict[str, Any]:
        with database().transaction() as session:
            session.add(EphemeralEntry(key=json_data.name, value="v", expires_at=1e12))
            session.flush()
            if json_data.count < 0:
                raise Conflict("negative count")
            if json_data.count == 13:
                raise RuntimeError("secret id 11010519491231002X exploded")
        return {"ok": True}

    return bp


@pytest.fixture
def probe_client(app: Any) -> Any:
    app.register_blueprint(_probe_blueprint())
    return app.test_client()


def _rows(app: Any) -> int:
    with database(app).transaction() as session:
        return int(session.scalar(select(func.count()).select_from(EphemeralEntry)) or 0)


def test_valid_request_writes(app: Any, probe_client: Any) -> None:
    response = probe_client.post("/api/v1/_probe", json={"name": "a", "count": 1})
    assert response.status_code == 200 and _rows(app) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_body"),
        (b'{"name": "a"}', "application/json", 400, "validation_error"),
        (b'{"name": "a", "count": "1"}', "application/json", 400, "validation_error"),
        (b'{"name": 5, "count": 1}', "application/json", 400, "validation_error"),
        (b'{"name": "a", "count": 1, "admin": true}', "application/json", 400, "validation_error"),
        (b'["name", "count"]', "application/json", 400, "validation_error"),
        (b"name=a&count=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"name": "a", "count": 1}', "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_gets_stable_code_and_writes_nothing(
    app: Any, probe_client: Any, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = probe_client.post("/api/v1/_probe", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert _rows(app) == 0


def test_oversized_body_is_413(app: Any, probe_client: Any) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"name": "x" * (limit + 10), "count": 1})
    response = probe_client.post("/api/v1/_probe", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert _rows(app) == 0


def test_domain_error_rolls_back_partial_write(app: Any, probe_client: Any) -> None:
    response = probe_client.post("/api/v1/_probe", json={"name": "a", "count": -1})
    assert response.status_code == 409
    assert response.json == {"error": {"code": "conflict", "message": "negative count"}}
    assert _rows(app) == 0


def test_unexpected_error_is_500_without_trace(
    app: Any, probe_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = probe_client.post(
        "/api/v1/_probe", json={"name": "a", "count": 13}, headers={"X-Request-Id": "req-12345678"}
    )
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "exploded" not in body and "11010519491231002X" not in body
    assert response.json["error"]["code"] == "internal_error"
    assert "req-12345678" in response.json["error"]["message"]
    assert response.headers["X-Request-Id"] == "req-12345678"
    assert _rows(app) == 0
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "RuntimeError" in logged and "11010519491231002X" not in logged


def test_browser_gets_html_error_page(client: Any) -> None:
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"not_found" in response.data


def test_api_paths_get_json_even_for_browsers(client: Any) -> None:
    response = client.get("/api/v1/nothing", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_method_not_allowed_is_json(client: Any) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
