"""Checks at the edge, before any body is parsed or any value reaches a query.

Invariants (one ``before_request`` hook for the whole app, see :func:`check_request`):
- A JSON body (of an endpoint that declares one) nests at most :data:`JSON_MAX_DEPTH`
  arrays/objects and is at most :data:`JSON_MAX_BYTES` long. Depth is measured by a
  string-aware scan of the raw bytes, so a deeply nested body is refused with 400
  ``malformed_body`` before the JSON decoder (which would recurse) ever sees it; a longer body
  is 413. Every JSON endpoint takes a few short fields.
- No control character reaches a handler: the path and the query string may hold none (C0 and
  DEL; checked in the hook), JSON strings (keys and values) and form fields none but tab,
  newline and carriage return (checked as the body is decoded, by ``WangzhengRequest``, which
  happens after authentication). PostgreSQL cannot store NUL in text, and nothing we accept
  has a use for the others, so they are 400 ``invalid_characters`` rather than a driver error.
- ``/openapi.json`` says so: :func:`declare_edge_errors` gives every operation its 400 (the
  edge refuses control characters in any path or query) and its 503 (``service_unavailable``,
  see ``handlers.errors``) when the operation does not declare them already.
"""

from __future__ import annotations

import re
from typing import Any

from apiflask import APIFlask
from flask import current_app, request

from bot.errors import MalformedBody, WangzhengError

JSON_MAX_DEPTH = 32
JSON_MAX_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A JSON string (with its escapes) or one bracket; strings are skipped, brackets counted.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class InvalidCharacters(WangzhengError):
    """The request holds control characters."""

    code = "invalid_characters"
    status = 400


def expected_body(endpoint: str | None) -> str | None:
    """The body content type an endpoint declares through APIFlask's ``@input``, if any."""
    view = current_app.view_functions.get(endpoint or "")
    spec = getattr(view, "_spec", None) or {}
    if "body" not in spec:
        return None
    declared = str(spec.get("content_type") or "application/json")
    return "json" if declared == "application/json" else "form"


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` anywhere in ``body``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot nest deeper than it has brackets: no scan needed
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _strings(value: Any) -> list[str]:
    """Every string (keys included) in a decoded JSON value; its depth is already bounded."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        found = [str(key) for key in value]
        for item in value.values():
            found.extend(_strings(item))
        return found
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _check_json() -> None:
    """Depth first (on at most the first ``JSON_MAX_BYTES``), then size; nothing is decoded."""
    body = request.get_data(cache=True)
    if json_depth_exceeds(body[:JSON_MAX_BYTES], JSON_MAX_DEPTH):
        raise MalformedBody(f"The JSON body nests deeper than {JSON_MAX_DEPTH} levels.")
    if len(body) > JSON_MAX_BYTES:
        raise WangzhengError(
            f"A JSON body may be at most {JSON_MAX_BYTES} bytes.",
            code="payload_too_large",
            status=413,
        )


def check_json_strings(decoded: Any) -> None:
    """400 when a string of a decoded JSON body (keys included) holds a control character."""
    if any(_CONTROL_IN_TEXT.search(text) for text in _strings(decoded)):
        raise InvalidCharacters("A JSON string holds a control character.")


def check_form_fields(form: Any) -> None:
    """400 when a text field of a parsed form (names included) holds a control character."""
    for name, value in form.items(multi=True):
        text = value if isinstance(value, str) else ""  # a field may come without a value
        label = name if isinstance(name, str) else ""  # ... or without a name
        if _CONTROL_IN_TEXT.search(label) or _CONTROL_IN_TEXT.search(text):
            raise InvalidCharacters("A form field holds a control character.")


def check_request() -> None:
    """The ``before_request`` hook: path, query, then the bytes of a JSON body."""
    if _CONTROL.search(request.path):
        raise InvalidCharacters("The path holds a control character.")
    for name, value in request.args.items(multi=True):
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise InvalidCharacters("The query string holds a control character.")
    # Only a JSON body that an endpoint declares is read here (its bytes, not decoded: the
    # authentication of the endpoint answers before any body is parsed). The WeChat webhook
    # reads its own stream with its own limit.
    if request.method in ("POST", "PUT", "PATCH") and expected_body(request.endpoint) == "json":
        _check_json()  # check_content_type already made sure it is labelled JSON


_EDGE_RESPONSES = {
    "400": "invalid_characters: a control character in the path, query or body",
    "503": "service_unavailable: the database or Redis is unavailable (Retry-After)",
}
# What the edge accepts, in JSON Schema terms (ECMA-262 regular expressions).
NO_CONTROL = "^[^\\u0000-\\u001f\\u007f]*$"
TEXT_WITHOUT_CONTROL = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


def _forbid_control(schema: Any, components: dict[str, Any], pattern: str, seen: set[str]) -> None:
    """Give every free string in ``schema`` (following $refs once) the edge's pattern."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen and name in components:
            seen.add(name)
            _forbid_control(components[name], components, pattern, seen)
        return
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        schema["pattern"] = pattern
    for key in ("properties", "patternProperties", "$defs"):
        for child in (schema.get(key) or {}).values():
            _forbid_control(child, components, pattern, seen)
    for key in ("items", "additionalProperties", "not"):
        _forbid_control(schema.get(key), components, pattern, seen)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for child in schema.get(key) or []:
            _forbid_control(child, components, pattern, seen)


def _declare(spec: Any) -> Any:
    components = spec.get("components", {}).get("schemas", {})
    seen: set[str] = set()
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, description in _EDGE_RESPONSES.items():
                operation["responses"].setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/HTTPError"}
                            }
                        },
                    },
                )
            for parameter in operation.get("parameters", []):
                _forbid_control(parameter.get("schema"), components, NO_CONTROL, seen)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _forbid_control(media.get("schema"), components, TEXT_WITHOUT_CONTROL, seen)
    return spec


def declare_edge_errors(app: APIFlask) -> None:
    """In ``/openapi.json``: every operation's 400 and 503, and the edge's refusal of control
    characters as a ``pattern`` on every free string it reads (parameters and request bodies).
    """
    previous = app.spec_callback

    def declare(spec: Any) -> Any:
        return _declare(previous(spec) if previous is not None else spec)

    app.spec_callback = declare
