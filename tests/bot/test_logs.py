"""The redaction filter masks secrets whatever the caller logs."""

from __future__ import annotations

import json
import logging
import time

import pytest

from bot.logs import JsonFormatter, RedactionFilter, redact

SECRETS = [
    "11010519491231002X",
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJqdGkiOiJhYmMifQ.c2lnbmF0dXJl",
    "tiihtNczf5v6AKRyjwEUhQ==",
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwg",
]


@pytest.mark.parametrize(
    "template",
    [
        "lookup {}",
        "Authorization: Bearer {}",
        "session_key={} ok",
        '{{"token": "{}"}}',
        "image bytes {}",
    ],
)
@pytest.mark.parametrize("secret", SECRETS)
def test_redact_masks_secret(template: str, secret: str) -> None:
    assert secret not in redact(template.format(secret))


def test_redact_keeps_ordinary_text() -> None:
    line = "POST /api/v1/verify 200 12.5ms merchant=7"
    assert redact(line) == line


def test_filter_redacts_args_and_exceptions() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "id %s", (SECRETS[0],), None)
    try:
        raise ValueError(f"bad id {SECRETS[0]}")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactionFilter().filter(record)
    line = JsonFormatter().format(record)
    assert SECRETS[0] not in line
    payload = json.loads(line)
    assert payload["msg"] == "id [redacted]" and "ValueError" in payload["exc"]


def test_bytes_are_masked() -> None:
    assert "JFIF" not in redact(repr(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01" * 3))


@pytest.mark.parametrize(
    "hostile",
    [
        "A" * 200_000,  # a long unpadded base64-like run
        "eyJ" * 70_000,  # JWT prefixes with no dots
        "b'" + "a" * 200_000,  # an unterminated bytes literal
        "b'" * 100_000,
        "=" + "A+/" * 70_000 + "=",
    ],
    ids=["base64-run", "jwt-prefixes", "open-bytes", "bytes-starts", "padded"],
)
def test_redaction_is_linear_on_hostile_lines(hostile: str) -> None:
    """A long attacker-chosen log line must not stall a worker (was 54 s for 40 KB)."""
    started = time.perf_counter()
    redact(hostile)
    assert time.perf_counter() - started < 2.0  # quadratic patterns take minutes here


def test_bytes_literals_with_the_other_quote_inside_are_masked() -> None:
    secret = 'b"it\'s a 0123456789abcdef secret"'
    assert "0123456789abcdef" not in redact(f"sealed={secret} done")
