"""The one authentication layer: every secured operation, found from /openapi.json, refuses
missing, foreign and wrong credentials with its scheme's 401, WWW-Authenticate and stable body,
before it looks at the body. A new secured endpoint is covered without editing this file."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.extensions import settings
from tests.registry_factories import add_merchant

CODES = {
    "bearer": "session_invalid",
    "merchant_key": "merchant_key_invalid",
    "admin_key": "admin_key_invalid",
    "terminal_signature": "terminal_auth_invalid",
    "agency_key": "agency_key_invalid",
}
CHALLENGES = {"terminal_signature": "WZ-HMAC-SHA256"}
ATTEMPTS = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer    "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer a=b, c=d"},
    {"Authorization": "Bearer " + "x" * 4000},
    {"X-WZ-Signature": "0" * 64},
    {
        "X-WZ-Signature": "0" * 64,
        "X-WZ-Terminal": "tm_x",
        "X-WZ-Timestamp": "1",
        "X-WZ-Nonce": "n" * 16,
    },
    {"X-WZ-Signature": "x" * 4000, "X-WZ-Terminal": "tm_" + "x" * 4000},
]


def secured_operations(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, concrete path, scheme) of every operation that names a security scheme."""
    return [(method, path, scheme) for method, path, scheme, _type in _secured(spec)]


def _secured(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {"application/json": {}})
            for requirement in operation.get("security", []):
                for scheme in requirement:
                    concrete = re.sub(r"\{[^}]+\}", "x1", path)
                    found.append((method.upper(), concrete, scheme, next(iter(body))))
    return sorted(found)


def test_every_named_scheme_is_defined(client: Any) -> None:
    spec = client.get("/openapi.json").json
    defined = spec["components"]["securitySchemes"]
    named = {scheme for _method, _path, scheme in secured_operations(spec)}
    assert named == set(CODES)
    for name in named - {"terminal_signature"}:
        assert defined[name]["type"] == "http" and defined[name]["scheme"] == "bearer"
        assert defined[name]["description"]
    terminal = defined["terminal_signature"]
    assert (terminal["type"], terminal["in"], terminal["name"]) == (
        "apiKey",
        "header",
        "X-WZ-Signature",
    )


def test_the_secured_operations_are_what_we_expect(client: Any) -> None:
    secured = secured_operations(client.get("/openapi.json").json)
    assert ("POST", "/api/v1/verify", "merchant_key") in secured
    assert ("GET", "/admin/api/merchants", "admin_key") in secured
    assert ("POST", "/api/v1/enrollments/light", "bearer") in secured
    assert len(secured) >= 15
    assert not any(path.startswith("/api/v1/mp/") for _m, path, _s in secured)


def test_every_secured_operation_refuses_bad_credentials(app: Any, client: Any) -> None:
    for method, path, scheme, content_type in _secured(client.get("/openapi.json").json):
        for headers in ATTEMPTS:
            # A hostile body too: authentication must answer before the body is parsed.
            body, sent_type = (
                (b"{not json", "application/json")
                if content_type == "application/json"
                else (b"--b\r\nbroken", "multipart/form-data; boundary=b")
            )
            response = client.open(
                path, method=method, data=body, content_type=sent_type, headers=headers
            )
            assert response.status_code == 401, (method, path, headers, response.json)
            challenge = CHALLENGES.get(scheme, "Bearer")
            assert response.headers["WWW-Authenticate"] == challenge, (method, path)
            assert response.json["error"]["code"] == CODES[scheme], (method, path, headers)
            assert set(response.json) == {"error"}
            assert set(response.json["error"]) == {"code", "message"}
            assert "x" * 100 not in response.get_data(as_text=True)


def test_a_key_of_one_scheme_opens_no_other(app: Any, client: Any, login: Any) -> None:
    merchant = add_merchant(app).api_key
    admin = settings(app).admin_key
    citizen = login().access_token
    cases = [
        ("GET", "/api/v1/credentials/current", merchant, "session_invalid"),
        ("GET", "/api/v1/credentials/current", admin, "session_invalid"),
        ("POST", "/api/v1/verify", citizen, "merchant_key_invalid"),
        ("POST", "/api/v1/verify", admin, "merchant_key_invalid"),
        ("GET", "/admin/api/merchants", citizen, "admin_key_invalid"),
        ("GET", "/admin/api/merchants", merchant, "admin_key_invalid"),
        ("GET", "/admin/api/merchants", admin[:-1], "admin_key_invalid"),
        ("GET", "/admin/api/merchants", admin + "x", "admin_key_invalid"),
    ]
    for method, path, token, code in cases:
        response = client.open(
            path,
            method=method,
            json={"token": "a.b.c"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (response.status_code, response.json["error"]["code"]) == (401, code), path


def test_the_right_keys_open_their_schemes(app: Any, client: Any, login: Any) -> None:
    admin = settings(app).admin_key
    listed = client.get("/admin/api/merchants", headers={"Authorization": f"bearer  {admin} "})
    assert listed.status_code == 200 and listed.json == {"merchants": []}
    key = add_merchant(app).api_key
    verified = client.post(
        "/api/v1/verify", json={"token": "a.b.c"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert verified.status_code == 200 and verified.json["result"] == "invalid"
    citizen = login().access_token
    preferences = client.get(
        "/api/v1/me/preferences", headers={"Authorization": f"Bearer {citizen}"}
    )
    assert preferences.status_code == 200


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """An admin key with ``=`` inside: werkzeug would parse it as auth parameters."""
    return {**app_config, "admin_key": "test-admin=key/" + "y" * 32 + "=="}


def test_an_admin_key_with_equals_signs_works(app: Any, client: Any) -> None:
    admin = settings(app).admin_key
    assert "=" in admin.rstrip("=")
    ok = client.get("/admin/api/merchants", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200
    wrong = client.get("/admin/api/merchants", headers={"Authorization": "Bearer a=b"})
    assert wrong.status_code == 401
