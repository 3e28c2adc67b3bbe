"""Structured logging to stdout with one redaction filter.

Invariants:
- Every record passes :class:`RedactionFilter` before any handler formats it, so tokens, keys,
  ID numbers and image bytes never reach a log line, whatever the caller passed in.
- Each line is one JSON object with ``ts``, ``level``, ``logger``, ``msg`` and ``request_id``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

MASK = "[redacted]"
# Every pattern is linear in the length of the line: runs start only where a run can start
# (lookbehind) and nothing backtracks across a run (possessive), so a long attacker-chosen log
# line cannot stall a worker (tests/bot/test_logs.py times 200 KB of each shape).
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # JWTs and other dotted base64url tokens.
    re.compile(r"(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),
    # Bearer credentials.
    re.compile(r"(?i)bearer\s+[^\s,;\"']+"),
    # key=value / "key": "value" pairs whose key names a secret.
    re.compile(
        r"(?i)((?:access_?token|refresh_?token|token|secret|password|passwd|api_?key|"
        r"session_?key|encoding_?aes_?key|ticket|authorization|code)[\"']?\s*[=:]\s*[\"']?)"
        r"[^\s,;\"'&}]+"
    ),
    # PostgreSQL's DETAIL line quotes the offending values ("Key (openid)=(o-...) already
    # exists", "Failing row contains (...)"): keep the label, mask the rest of the line.
    re.compile(r"(?i)((?:DETAIL|Failing row contains)\b:?\s*)[^\n]*"),
    # 18-character resident ID numbers (17 digits and a check character), and 15-digit old ones.
    re.compile(r"(?<![\w])\d{17}[\dXx](?![\w])"),
    re.compile(r"(?<![\w])\d{15}(?![\w])"),
    # Python bytes literals (image data, keys) longer than a few bytes.
    re.compile(
        r"b(?:'(?=(?:\\.|[^'\\]){16})(?:\\.|[^'\\])*+'"
        r"|\"(?=(?:\\.|[^\"\\]){16})(?:\\.|[^\"\\])*+\")"
    ),
    # Padded base64 values (keys, session keys, ciphertexts) of 16+ characters.
    re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={1,2}(?![\w=])"),
    # Long base64 / hex blobs: images, keys, ciphertexts.
    re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{48,}={0,2}"),
)


def redact(text: str) -> str:
    """Mask every secret-looking span in ``text``."""
    for pattern in _PATTERNS:
        if pattern.groups and pattern.pattern.startswith("(?i)(("):
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


class RedactionFilter(logging.Filter):
    """Formats the message once, redacts it, and drops the raw args."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace ``record.msg`` with its redacted rendering."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` with its request id and any ``extra`` fields."""
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update({k: redact(str(v)) for k, v in fields.items()})
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


_redacting_factory_installed = False


def install_redacting_record_factory() -> None:
    """Redact each record at creation, so no handler (ours, pytest's, gunicorn's) sees raw text."""
    global _redacting_factory_installed
    if _redacting_factory_installed:
        return
    previous = logging.getLogRecordFactory()
    redaction = RedactionFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redaction.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _redacting_factory_installed = True


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records through the redaction filter to stdout as JSON."""
    install_redacting_record_factory()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_wangzheng", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter())
    handler._wangzheng = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
