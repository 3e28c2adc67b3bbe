"""Schemathesis against ``/openapi.json``, in every authentication context.

For each context (none, citizen, merchant, admin) schemathesis generates valid (positive) and
invalid (negative) requests for every operation and runs every built-in check on the answers:
no 5xx, declared status codes, content types and headers, bodies matching their schema, invalid
data refused, valid data accepted, authentication not ignored. Bounded by ``MAX_EXAMPLES`` per
operation, mode and context, so the whole run stays at a few minutes on CI.

Schemathesis's own pytest plugin (``from_fixture``) does not work with pytest 9 (it reads a
private ``_nodeid``), so each operation's strategy is driven by hypothesis here directly.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.handlers.verify_helpers import enrolled, merchant_key

MAX_EXAMPLES = 25
# The subject is the HTTP contract: run once, on the default backend (a few minutes), not again
# for every PostgreSQL/Redis combination.
pytestmark = pytest.mark.single_backend
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# Operations whose valid input can still be refused by a rule JSON Schema cannot state, each
# with the rule; only the positive-data-acceptance check is skipped for them, the rest all run.
CROSS_FIELD_RULES = {
    "POST /admin/api/merchants": "full_identity needs a hotel, bank or government category",
    "PUT /api/v1/terminal-claims/{session_id}/password": "a weak password (one digit repeated, "
    "a run, the birth date) is refused with 422 password_weak",
}


def _excluded(operation: Any) -> list[Any]:
    """Checks that cannot hold for an operation, each with its reason.

    A photo is a binary string to JSON Schema: schemathesis's "valid" bytes are not an image, so
    the quality gates rightly refuse them (422 ``image_invalid``); acceptance of positive data is
    therefore not checked on photo uploads, nor on the operations in ``CROSS_FIELD_RULES``.
    """
    body = operation.definition.raw.get("requestBody", {})
    name = f"{operation.method.upper()} {operation.path}"
    if "multipart/form-data" in body.get("content", {}) or name in CROSS_FIELD_RULES:
        return [positive_data_acceptance]
    return []


def _runner(
    operation: Any, mode: GenerationMode, headers: dict[str, str], excluded: list[Any]
) -> Any:
    """A hypothesis test that sends ``operation``'s generated cases and checks every answer."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @FUZZ
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    return run


def _fuzz(app: Any, headers: dict[str, str]) -> list[str]:
    """Run every operation in both modes; returns one line per operation that failed a check."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation our document cannot describe
        operations.append(result.ok())
    assert len(operations) >= 15, "the schema lost its operations"
    for operation in operations:
        excluded = _excluded(operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation, mode, headers, excluded)
            try:
                run()
            except Unsatisfiable:
                continue  # nothing in this operation can be made invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported below, all at once
                name = f"{operation.method.upper()} {operation.path}"
                failures.append(f"{name} [{mode.value}]: {exc}"[:1500])
    return failures


@pytest.mark.parametrize("context", ["none", "citizen", "merchant", "admin"])
def test_every_operation_in_every_auth_context(
    wechat_app: Any, login: Any, app_config: dict[str, Any], context: str
) -> None:
    """The app talks to the WeChat emulator over HTTP, so logins reach a real (emulated) peer."""
    app = wechat_app
    headers: dict[str, str] = {}
    if context == "citizen":
        headers = {"Authorization": f"Bearer {enrolled(app, login).access_token}"}
    elif context == "merchant":
        headers = {"Authorization": f"Bearer {merchant_key(app)}"}
    elif context == "admin":
        headers = {"Authorization": f"Bearer {app_config['admin_key']}"}
    failures = _fuzz(app, headers)
    assert not failures, "\n\n".join(failures)
