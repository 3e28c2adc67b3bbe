"""Checks real answers against /openapi.json: the status is declared for the operation and the
JSON body validates (JSON Schema 2020-12, as OpenAPI 3.1 uses) against the declared schema.

A pytest plugin (``pytest_plugins`` in ``tests/conftest.py``): its autouse fixture
:func:`answers_match_the_document` checks every answer of every test, so each behaviour test
also proves the document true. It listens to Flask's ``request_finished`` signal, so it sees
every app a test builds, in whatever order the test's fixtures configure it. Server errors are
left to the tests that cause them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from flask import Response, request_finished
from flask import request as http_request
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from handlers import BLUEPRINTS
from handlers.simulator import simulator

SPEC_URI = "urn:wangzheng:openapi"


def openapi_path(flask_rule: str) -> str:
    """``/a/<public_id>`` and ``/a/<string:x>`` as OpenAPI writes them: ``/a/{public_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", flask_rule)


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


class SpecChecker:
    """Validates (rule, method, status, content type, body) against one OpenAPI document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(spec)
        )

    def problems(
        self,
        rule: str,
        method: str,
        status: int,
        mimetype: str,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Why this answer contradicts the document (empty when it conforms)."""
        path = openapi_path(rule)
        operation = self.spec["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return []  # hidden or not an API operation (pages, static files)
        where = f"{method} {path} -> {status}"
        response = operation["responses"].get(str(status))
        if response is None:
            return [f"{where}: status not declared ({sorted(operation['responses'])})"]
        found = self._header_problems(where, response.get("headers", {}), headers or {})
        content = response.get("content", {})
        if mimetype not in content:
            return [*found, f"{where}: {mimetype} not declared ({sorted(content)})"]
        if mimetype != "application/json":
            return found
        pointer = _pointer("paths", path, method.lower(), "responses", str(status))
        pointer += _pointer("content", "application/json", "schema")
        validator = Draft202012Validator(
            {"$ref": SPEC_URI + "#" + pointer},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        return found + [f"{where}: {error.message} at {list(error.absolute_path)}" for error in
                        validator.iter_errors(body)]  # fmt: skip

    @staticmethod
    def _header_problems(
        where: str, declared: dict[str, Any], sent: Mapping[str, str]
    ) -> list[str]:
        """Required headers present; every declared header that is sent matches its schema."""
        found = []
        for name, header in declared.items():
            value = sent.get(name)
            if value is None:
                if header.get("required"):
                    found.append(f"{where}: required header {name} missing")
                continue
            for error in Draft202012Validator(header.get("schema", {})).iter_errors(value):
                found.append(f"{where}: header {name}: {error.message}")
        return found


_SPECS: dict[tuple[str, ...], SpecChecker] = {}
# Ours only: tests may mount probe blueprints of their own.
OUR_BLUEPRINTS = {blueprint.name for blueprint in (*BLUEPRINTS, simulator)}


def _checker(app: Any) -> SpecChecker:
    """One checker per set of routes (building the document is the slow part)."""
    key = tuple(sorted(f"{rule.rule} {rule.endpoint}" for rule in app.url_map.iter_rules()))
    if key not in _SPECS:
        _SPECS[key] = SpecChecker(app.spec)
    return _SPECS[key]


@pytest.fixture(autouse=True)
def answers_match_the_document() -> Iterator[list[str]]:
    """Check every answer of our blueprints (not the WeChat emulator, not test probes)."""
    problems: list[str] = []

    def check(sender: Any, response: Response, **_: Any) -> None:
        rule = http_request.url_rule
        method = http_request.method
        if sender.name != "wangzheng" or rule is None or method in ("HEAD", "OPTIONS"):
            return
        if http_request.blueprint not in OUR_BLUEPRINTS:
            return
        if response.status_code >= 500:
            return
        body = response.get_json(silent=True) if response.is_json else None
        problems.extend(
            _checker(sender).problems(
                rule.rule,
                method,
                response.status_code,
                response.mimetype or "",
                body,
                dict(response.headers),
            )
        )

    request_finished.connect(check, weak=False)
    try:
        yield problems
    finally:
        request_finished.disconnect(check)
    assert problems == []
