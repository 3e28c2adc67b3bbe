"""/openapi.json is valid, complete (every operation declares what it returns, success and
errors, and every scheme it names) and true (real answers validate against it; the autouse
fixture in ``conftest.py`` checks every answer of every handler test, this file adds a tour)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from bot.extensions import settings
from bot.wechat.payconfig import NOTIFY_PATH
from handlers.schemas import ERROR_SCHEMA
from tests.openapi_check import SpecChecker, openapi_path
from tests.registry_factories import add_merchant

ERROR_REFS = {"#/components/schemas/HTTPError", "#/components/schemas/ValidationError"}
# Pages, static files, the document itself and Prometheus text: not JSON API operations.
NOT_API = {
    "api_docs.docs",
    "ops.metrics",
    "pages.pass_page",
    "scanner.merchant_page",
    "simulator.index",
    "simulator.sample",
    "simulator.bills_page",
}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json
    return document


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    for name in ("HTTPError", "ValidationError"):
        assert spec["components"]["schemas"][name] == ERROR_SCHEMA


def test_every_named_security_scheme_is_defined(spec: dict[str, Any]) -> None:
    defined = set(spec["components"]["securitySchemes"])
    named = {
        scheme
        for _method, _path, operation in _operations(spec)
        for requirement in operation.get("security", [])
        for scheme in requirement
    }
    assert named and named <= defined
    assert {"bearer", "merchant_key", "admin_key"} <= named


def test_every_api_route_is_documented(app: Any, spec: dict[str, Any]) -> None:
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if endpoint in NOT_API or endpoint.endswith("static") or endpoint.startswith("openapi."):
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"].get(openapi_path(rule.rule), {}), rule.rule


def test_every_operation_declares_its_answers(spec: dict[str, Any]) -> None:
    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        where = f"{method} {path}"
        successes = [status for status in responses if status.startswith("2")]
        assert len(successes) == 1, where
        content = responses[successes[0]]["content"]
        for media in content.values():
            assert media["schema"], where  # never the empty "anything" schema
        if "application/json" in content:
            assert "$ref" in content["application/json"]["schema"], where
        for status, response in responses.items():
            # /readyz's 503 shows the checks; WeChat Pay reads its own {"code": "FAIL"} format.
            exempt = (path == "/readyz" and status == "503") or path == NOTIFY_PATH
            if status.startswith(("4", "5")) and not exempt:
                schema = response["content"]["application/json"]["schema"]
                assert schema["$ref"] in ERROR_REFS, (where, status)
        if operation.get("security"):
            assert "401" in responses, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), where
        if "{" in path:
            assert "404" in responses, where
        if method == "POST" and path.endswith(("/challenges", "/presentations", "/qr", "/card")):
            assert successes == ["201"], where


def test_creations_are_201(spec: dict[str, Any]) -> None:
    created = {
        path
        for method, path, operation in _operations(spec)
        if method == "POST" and "201" in operation["responses"]
    }
    assert {
        "/admin/api/merchants",
        "/api/v1/enrollments/light",
        "/api/v1/liveness/challenges",
        "/api/v1/credentials/current/presentations",
    } <= created


def test_the_checker_catches_a_lie(spec: dict[str, Any]) -> None:
    """The conformance check is not vacuous: wrong bodies and undeclared statuses fail."""
    checker = SpecChecker(spec)
    json = "application/json"
    assert checker.problems("/healthz", "GET", 200, json, {"status": "ok"}) == []
    assert checker.problems("/healthz", "GET", 200, json, {"status": "fine"})
    assert checker.problems("/healthz", "GET", 200, json, {"status": "ok", "extra": 1})
    assert checker.problems("/healthz", "GET", 418, json, {"status": "ok"})
    error = {"error": {"code": "session_invalid", "message": "Sign in again."}}
    rule = "/api/v1/credentials/current"
    assert checker.problems(rule, "GET", 401, json, {"error": {"code": "x"}})
    assert checker.problems(rule, "GET", 401, json, {"message": "flat"})
    assert checker.problems(rule, "GET", 200, json, {"level": "gold"})
    challenge = {"WWW-Authenticate": "Bearer"}
    assert checker.problems(rule, "GET", 401, json, error, challenge) == []
    assert checker.problems(rule, "GET", 401, json, error, {})  # the challenge is required
    assert checker.problems(rule, "GET", 401, json, error, {"WWW-Authenticate": "Basic"})
    limited = {"error": {"code": "rate_limited", "message": "Later."}}
    assert checker.problems("/api/v1/verify", "POST", 429, json, limited, {}) == []
    assert checker.problems("/api/v1/verify", "POST", 429, json, limited, {"Retry-After": "soon"})
    verify = "/api/v1/verify"
    invalid = {"result": "invalid", "reason": "replayed"}
    assert checker.problems(verify, "POST", 200, json, invalid) == []
    assert checker.problems(verify, "POST", 200, json, {"result": "invalid", "reason": "nope"})
    assert checker.problems(verify, "POST", 200, json, {"result": "valid", "reason": "replayed"})


def test_a_tour_of_real_answers_conforms(
    app: Any, client: Any, login: Any, answers_match_the_document: list[str]
) -> None:
    """Success and error answers of every citizen, merchant and admin operation that needs no
    face model; the autouse fixture validates each against the document."""
    admin = {"Authorization": f"Bearer {settings(app).admin_key}"}
    citizen = {"Authorization": f"Bearer {login().access_token}"}
    merchant = {"Authorization": f"Bearer {add_merchant(app).api_key}"}
    calls: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/readyz", {}, None, 200),
        ("GET", "/.well-known/jwks.json", {}, None, 200),
        # The simulator is development-only: test_pages tours it on a development app.
        ("GET", "/api/v1/me/preferences", citizen, None, 200),
        ("PUT", "/api/v1/me/preferences", citizen, {"notify_on_verification": True}, 200),
        ("GET", "/api/v1/me/verifications", citizen, None, 200),
        ("GET", "/api/v1/me/verifications?limit=0", citizen, None, 400),
        ("GET", "/api/v1/me/history", citizen, None, 200),
        ("GET", "/api/v1/me/history?limit=101", citizen, None, 400),
        ("GET", "/api/v1/me/history?cursor=bm90LW1pbmU.0000", citizen, None, 400),
        ("GET", "/api/v1/credentials/current", citizen, None, 404),
        ("POST", "/api/v1/credentials/current/presentations", citizen, None, 404),
        ("POST", "/api/v1/credentials/current/qr", citizen, None, 404),
        ("POST", "/api/v1/liveness/challenges", citizen, None, 201),
        ("POST", "/api/v1/verify", merchant, {"token": "a.b.c"}, 200),
        ("POST", "/api/v1/verify", merchant, {"token": 1}, 400),
        ("POST", "/api/v1/verify", {}, {"token": "a.b.c"}, 401),
        ("POST", "/api/v1/mp/refresh", {}, {"refresh_token": "r" * 20}, 401),
        ("GET", "/admin/api/merchants", admin, None, 200),
        ("POST", "/admin/api/merchants", admin, {"name": "Inn", "category": "hotel"}, 201),
        ("POST", "/admin/api/merchants", admin, {"name": "Inn", "category": "zoo"}, 400),
        ("GET", "/admin/api/merchants/m_nobody", admin, None, 404),
    ]
    for method, path, headers, body, status in calls:
        response = client.open(path, method=method, headers=headers, json=body)
        assert response.status_code == status, (method, path, response.json)
    public_id = client.get("/admin/api/merchants", headers=admin).json["merchants"][0]["public_id"]
    for action, status in (("rotate-key", 200), ("disable", 200), ("enable", 200)):
        response = client.post(f"/admin/api/merchants/{public_id}/{action}", headers=admin)
        assert response.status_code == status
        assert client.get(f"/admin/api/merchants/{public_id}", headers=admin).status_code == 200
    assert answers_match_the_document == []
