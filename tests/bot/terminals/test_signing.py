"""The terminal signature: the worked example of docs/terminals.md, and every refusal."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.extensions import clock, database, settings
from bot.terminals.errors import TerminalAuthInvalid
from bot.terminals.registry import TerminalPrincipal, set_terminal_enabled, terminal_key
from bot.terminals.signing import WINDOW_S, SignedRequest, canonical_string, sign, verify_request
from tests.kit.terminal import new_terminal

DOC = Path(__file__).resolve().parents[3] / "docs" / "terminals.md"


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    text = DOC.read_text()
    example = dict(re.findall(r"^- (key|method|path|timestamp|nonce|body): `(.*)`$", text, re.M))
    request = SignedRequest(
        example["method"],
        example["path"],
        example["timestamp"],
        example["nonce"],
        example["body"].encode(),
    )
    canonical = canonical_string(request).decode()
    documented = re.search(r"canonical string:\n\n```\n(.*?)\n```", text, re.S)
    assert documented is not None and documented.group(1) == canonical
    signature = re.search(r"^signature: `([0-9a-f]{64})`$", text, re.M)
    assert signature is not None and signature.group(1) == sign(example["key"], request)


def _check(app: Any, headers: dict[str, str], body: bytes = b"", path: str = "/p") -> Any:
    def lookup(public_id: str) -> tuple[TerminalPrincipal, bytes] | None:
        with database(app).transaction() as session:
            return terminal_key(session, settings(app), public_id)

    from bot.extensions import store

    return verify_request(store(app), lookup, headers, "POST", path, body, clock(app)())


def test_a_good_signature_names_the_terminal_once(app: Any) -> None:
    terminal = new_terminal(app)
    headers = terminal.headers("POST", "/p", b"{}")
    assert _check(app, headers, b"{}").public_id == terminal.terminal_id
    with pytest.raises(TerminalAuthInvalid):  # the same nonce again: a replay
        _check(app, headers, b"{}")


@pytest.mark.parametrize(
    "tamper",
    ["body", "path", "wrong_key", "other_terminal_key", "stale_past", "stale_future", "no_nonce"],
)
def test_each_tampering_is_refused(app: Any, tamper: str) -> None:
    terminal, other = new_terminal(app), new_terminal(app, name="Counter 2")
    now = int(clock(app)())
    signing: dict[str, Any] = {}
    if tamper == "wrong_key":
        signing["key"] = "wzt_" + "A" * 43
    if tamper == "other_terminal_key":
        signing["key"] = other.key
    if tamper == "stale_past":
        signing["timestamp"] = now - WINDOW_S - 1
    if tamper == "stale_future":
        signing["timestamp"] = now + WINDOW_S + 1
    headers = terminal.headers("POST", "/p", b"{}", **signing)
    if tamper == "no_nonce":
        headers.pop("X-WZ-Nonce")
    body = b'{"x":1}' if tamper == "body" else b"{}"
    path = "/q" if tamper == "path" else "/p"
    with pytest.raises(TerminalAuthInvalid):
        _check(app, headers, body, path)


def test_a_timestamp_at_the_edge_of_the_window_still_passes(app: Any) -> None:
    terminal = new_terminal(app)
    clock(app).set(1_900_000_000)
    headers = terminal.headers("POST", "/p", timestamp=1_900_000_000 - WINDOW_S)
    assert _check(app, headers).public_id == terminal.terminal_id


def test_a_disabled_terminal_is_refused_like_an_unknown_one(app: Any) -> None:
    terminal = new_terminal(app)
    with database(app).transaction() as session:
        set_terminal_enabled(session, terminal.terminal_id, False)
    with pytest.raises(TerminalAuthInvalid) as disabled:
        _check(app, terminal.headers("POST", "/p"))
    unknown_headers = terminal.headers("POST", "/p")
    unknown_headers["X-WZ-Terminal"] = "tm_nobody"
    with pytest.raises(TerminalAuthInvalid) as unknown:
        _check(app, unknown_headers)
    assert disabled.value.to_dict() == unknown.value.to_dict()


def test_concurrent_replays_of_one_request_pass_exactly_once(app: Any) -> None:
    terminal = new_terminal(app)
    headers = terminal.headers("POST", "/p", b"{}")
    passed: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        with app.app_context():
            try:
                passed.append(_check(app, headers, b"{}").public_id)
            except TerminalAuthInvalid:
                refused.append("replay")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 1 and len(refused) == 7


def test_the_key_is_stored_sealed_never_in_the_clear(app: Any) -> None:
    from sqlalchemy import select

    from storage.models.terminal import Terminal

    terminal = new_terminal(app)
    with database(app).transaction() as session:
        row = session.scalars(select(Terminal)).one()
        assert terminal.key.encode() not in row.key_sealed
        assert row.key_hint == terminal.key[:10]
