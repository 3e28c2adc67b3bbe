"""``POST /api/v1/verify`` for merchants, and ``GET /api/v1/me/verifications`` for citizens.

Invariants:
- The merchant key is checked (401 ``merchant_key_invalid`` for unknown or disabled keys, by
  :data:`handlers.auth.merchant_auth`, which also counts the call in the key's window) and the
  per-key rate limit applied before the body is even parsed.
- A bad token is a 200 ``{"result": "invalid", "reason"}``; the token is never logged or stored.
- Before authentication, :func:`prefetch_presentation_handle` names the store key of the
  token's (unverified) handle, so the authentication's one store round trip reads it too; the
  value is used only once the token's signature has been checked (``bot.credentials.tokens``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from apiflask import APIBlueprint
from flask import g, request
from pydantic import BaseModel, ConfigDict, Field, RootModel

from bot.credentials.tokens import handle_key, peek_handle
from bot.extensions import database, settings, store
from bot.merchants.history import verifications_for
from bot.merchants.verify import check_rate_limit
from bot.merchants.verify_commit import verify_and_commit
from bot.vocab import Level, Scope, VerifyResult
from handlers.auth import (
    citizen_auth,
    current_citizen,
    current_merchant,
    merchant_auth,
    merchant_calls,
    prefetched,
)
from handlers.schemas import (
    BODY_ERRORS,
    CITIZEN_ERRORS,
    CategoryField,
    FactorField,
    LevelField,
    Out,
    ScopeField,
    Timestamp,
    VerifyReasonField,
    VerifyResultField,
)

verify = APIBlueprint("verify", __name__, tag="Verification")


class VerifyIn(BaseModel):
    """A presentation token from a pass QR, and what the merchant asks of it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    token: str = Field(min_length=1, max_length=1024)
    required_level: LevelField = Level.LIGHT
    scope: ScopeField = Scope.RESULT
    required_factors: list[FactorField] = Field(
        default_factory=list,
        max_length=4,
        description="password: the token must carry amr pwd (the upgraded credential's "
        "password); biometric: amr fpt or face (a WeChat SOTER unlock just before the token)",
    )


class HistoryQuery(BaseModel):
    """Paging of the citizen's history."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)


class ClaimsOut(Out):
    """Exactly the fields the scope discloses; none for ``result``."""

    age_over_18: bool | None = None
    name_masked: str | None = None
    name: str | None = None
    id_number: str | None = None


class ValidOut(Out):
    """A valid presentation: its level, the merchant-specific pseudonym, the disclosed claims."""

    result: Literal[VerifyResult.VALID]
    level: LevelField
    subject_pseudonym: str = Field(pattern=r"^[0-9a-f]{32}$")
    claims: ClaimsOut
    face: Literal["match"] | None = Field(
        default=None, description="only on POST /api/v1/verify/face: the live face matched"
    )


class InvalidOut(Out):
    """An invalid presentation: only the reason, nothing about the citizen."""

    result: Literal[VerifyResult.INVALID]
    reason: VerifyReasonField


class VerifyOut(RootModel[ValidOut | InvalidOut]):
    """``valid`` with level, pseudonym and claims, or ``invalid`` with a reason (both 200)."""


class HistoryEntryOut(Out):
    """One verification of the citizen: who, when, what was asked and disclosed (field names)."""

    merchant: str
    category: CategoryField
    at: Timestamp
    result: VerifyResultField
    reason: VerifyReasonField | None
    scope: ScopeField
    disclosed: list[str]


class HistoryOut(Out):
    """Newest first."""

    verifications: list[HistoryEntryOut]


View = TypeVar("View", bound=Callable[..., Any])


@verify.before_request
def prefetch_presentation_handle() -> None:
    """Ask the merchant authentication to read the token's handle in its round trip.

    The raw body is peeked with ``json.loads``, not ``request.get_json``: nothing is checked or
    refused here, so an unauthenticated call still gets its 401 before any answer about its body.
    """
    if request.endpoint != "verify.verify_token":
        return
    try:
        body = json.loads(request.get_data(cache=True))
    except ValueError:
        return
    handle = peek_handle(body.get("token")) if isinstance(body, dict) else None
    if handle is not None:
        g.store_prefetch = (handle_key(handle),)


def rate_limited(view: View) -> View:
    """Apply the merchant's per-key rate limit (429) after authentication, before the body is
    parsed; ``functools.wraps`` keeps APIFlask's ``_spec`` for the OpenAPI document."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_rate_limit(settings(), *merchant_calls())
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@verify.post("/api/v1/verify")
@verify.auth_required(merchant_auth)
@rate_limited
@verify.input(VerifyIn, arg_name="body")
@verify.output(VerifyOut, description="valid, or invalid with its reason")
@verify.doc(
    summary="Verify a presentation token (merchant key as Bearer)",
    responses={
        **BODY_ERRORS,
        401: "merchant_key_invalid: unknown, rotated or disabled key",
        429: "rate_limited: too many verifications with this key this minute (Retry-After)",
    },
)
def verify_token(body: VerifyIn) -> dict[str, Any]:
    """``{result, reason?}`` or ``{result, level, subject_pseudonym, claims}``."""
    outcome = verify_and_commit(
        database(),
        store(),
        settings(),
        current_merchant(),
        body.token,
        required_level=body.required_level,
        scope=body.scope,
        client_ip=request.remote_addr or "",
        required_factors=tuple(body.required_factors),
        prefetched=prefetched(),
    )
    return outcome.to_dict()


@verify.get("/api/v1/me/verifications")
@verify.auth_required(citizen_auth)
@verify.input(HistoryQuery, location="query", arg_name="query")
@verify.output(HistoryOut)
@verify.doc(
    summary="Who verified me, when, and what was disclosed",
    responses={400: "validation_error: bad limit", **CITIZEN_ERRORS},
)
def my_verifications(query: HistoryQuery) -> dict[str, Any]:
    """The citizen's latest verifications, newest first."""
    principal = current_citizen()
    with database().transaction() as session:
        entries = verifications_for(session, principal.openid, query.limit)
    return {
        "verifications": [
            {
                "merchant": entry.merchant,
                "category": entry.category,
                "at": entry.at.isoformat(),
                "result": entry.result,
                "reason": entry.reason,
                "scope": entry.scope,
                "disclosed": list(entry.disclosed),
            }
            for entry in entries
        ]
    }
