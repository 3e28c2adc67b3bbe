"""A trusted terminal's side: a registered terminal and requests signed as it signs them.

The terminal tests and ``bench/terminal_bench.py`` drive the terminal API through a Flask test
client with it; the signature is the product's own (``bot.terminals.signing.sign``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from bot.extensions import clock, database, settings
from bot.terminals.registry import create_terminal
from bot.terminals.signing import SignedRequest, sign


@dataclass
class TerminalClient:
    """Sends requests signed with one terminal's key through a Flask test client."""

    app: Any
    client: Any
    terminal_id: str
    key: str

    def headers(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        key: str | None = None,
    ) -> dict[str, str]:
        """The four signature headers for this request."""
        stamp = str(int(clock(self.app)()) if timestamp is None else timestamp)
        once = nonce or secrets.token_urlsafe(16)
        request = SignedRequest(method, path, stamp, once, body)
        return {
            "X-WZ-Terminal": self.terminal_id,
            "X-WZ-Timestamp": stamp,
            "X-WZ-Nonce": once,
            "X-WZ-Signature": sign(key or self.key, request),
        }

    def open(self, **signing: Any) -> Any:
        """``POST /api/v1/terminal/sessions``."""
        path = "/api/v1/terminal/sessions"
        return self.client.post(path, headers=self.headers("POST", path, **signing))

    def poll(self, session_id: str, query: str = "", **signing: Any) -> Any:
        """``GET /api/v1/terminal/sessions/<id>[?query]``."""
        path = f"/api/v1/terminal/sessions/{session_id}" + (f"?{query}" if query else "")
        return self.client.get(path, headers=self.headers("GET", path, **signing))

    def card(self, session_id: str, fields: dict[str, Any], **signing: Any) -> Any:
        """``POST .../card`` as multipart; ``fields`` values that are bytes are sent as files."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, bytes):
                values[name] = FileStorage(BytesIO(value), filename=f"{name}.jpg")
            else:
                values[name] = str(value)
        boundary, body = encode_multipart(values)
        path = f"/api/v1/terminal/sessions/{session_id}/card"
        return self.client.post(
            path,
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=self.headers("POST", path, body, **signing),
        )


def new_terminal(
    app: Any, name: str = "Counter 1", site: str = "Futian service hall"
) -> TerminalClient:
    """Register a terminal and return a client signing as it."""
    with database(app).transaction() as session:
        issued = create_terminal(session, settings(app), name=name, site=site)
    return TerminalClient(app, app.test_client(), issued.terminal.public_id, issued.key)
