"""``flask terminals create|list|disable|rotate-key``."""

from __future__ import annotations

import re
from typing import Any

from tests.kit.terminal import TerminalClient


def test_create_list_rotate_disable(app: Any, runner: Any) -> None:
    created = runner.invoke(args=["terminals", "create", "Counter 1", "--site", "Futian hall"])
    assert created.exit_code == 0, created.output
    terminal_id = re.search(r"^terminal (tm_\S+)$", created.output, re.M)
    key = re.search(r"^key (wzt_\S+)$", created.output, re.M)
    assert terminal_id and key
    signer = TerminalClient(app, app.test_client(), terminal_id.group(1), key.group(1))
    assert signer.open().status_code == 201

    listed = runner.invoke(args=["terminals", "list"])
    assert terminal_id.group(1) in listed.output and "enabled" in listed.output
    assert key.group(1) not in listed.output  # never the key, only its hint

    rotated = runner.invoke(args=["terminals", "rotate-key", terminal_id.group(1)])
    new_key = re.search(r"^key (wzt_\S+)$", rotated.output, re.M)
    assert new_key and new_key.group(1) != key.group(1)
    assert signer.open().status_code == 401  # the old key stopped
    signer.key = new_key.group(1)
    assert signer.open().status_code == 201

    disabled = runner.invoke(args=["terminals", "disable", terminal_id.group(1)])
    assert disabled.exit_code == 0
    refused = signer.open()
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "terminal_auth_invalid"
    assert refused.headers["WWW-Authenticate"] == "WZ-HMAC-SHA256"
    assert "disabled" in runner.invoke(args=["terminals", "list"]).output


def test_unknown_terminal_and_bad_names_fail_cleanly(runner: Any) -> None:
    missing = runner.invoke(args=["terminals", "disable", "tm_nope"])
    assert missing.exit_code != 0 and "terminal_not_found" in missing.output
    blank = runner.invoke(args=["terminals", "create", "  ", "--site", "x"])
    assert blank.exit_code != 0 and "terminal_name_invalid" in blank.output
