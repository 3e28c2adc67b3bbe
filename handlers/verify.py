"""``POST /api/v1/verify`` for merchants, and ``GET /api/v1/me/verifications`` for citizens.

Invariants:
- The merchant key is checked (401 ``merchant_key_invalid`` for unknown or disabled keys) and
  the per-key rate limit applied before the body is even parsed.
- A bad token is a 200 ``{"result": "invalid", "reason"}``; the token is never logged or stored.
"""

from __future__ import annotations

from typing import Any, Literal

from apiflask import APIBlueprint
from flask import g, request
from pydantic import BaseModel, ConfigDict, Field

from bot.extensions import database, settings, store
from bot.merchants.accounts import MerchantPrincipal, authenticate_merchant_cached
from bot.merchants.errors import MerchantKeyInvalid
from bot.merchants.history import verifications_for
from bot.merchants.verify import check_rate_limit, verify_presentation
from handlers.auth import current_citizen

verify = APIBlueprint("verify", __name__, tag="Verification")


class VerifyIn(BaseModel):
    """A presentation token from a pass QR, and what the merchant asks of it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    token: str = Field(min_length=1, max_length=1024)
    required_level: Literal["light", "upgraded"] = "light"
    scope: Literal["result", "age_over_18", "name_masked", "full_identity"] = "result"


class HistoryQuery(BaseModel):
    """Paging of the citizen's history."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=200)


def _merchant() -> MerchantPrincipal:
    """Authenticate the merchant key once per request."""
    cached = g.get("merchant")
    if isinstance(cached, MerchantPrincipal):
        return cached
    scheme, _, api_key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not api_key.strip():
        raise MerchantKeyInvalid(headers={"WWW-Authenticate": "Bearer"})
    merchant = authenticate_merchant_cached(database(), store(), settings(), api_key.strip())
    g.merchant = merchant
    return merchant


@verify.before_request
def _authenticate_merchant() -> None:
    """401 and 429 come before body validation on the merchant endpoint."""
    if request.endpoint == "verify.verify_token":
        merchant = _merchant()
        check_rate_limit(store(), settings(), merchant.id)


@verify.post("/api/v1/verify")
@verify.input(VerifyIn, arg_name="body")
@verify.doc(
    summary="Verify a presentation token (merchant key as Bearer)",
    responses={200: "verification result (valid or invalid with reason)", 401: "bad key"},
    security=[{"merchant_key": []}],
)
def verify_token(body: VerifyIn) -> dict[str, Any]:
    """``{result, reason?}`` or ``{result, level, subject_pseudonym, claims}``."""
    merchant = _merchant()
    with database().transaction() as session:
        outcome = verify_presentation(
            session,
            store(),
            settings(),
            merchant,
            body.token,
            required_level=body.required_level,
            scope=body.scope,
            client_ip=request.remote_addr or "",
        )
    return outcome.to_dict()


@verify.get("/api/v1/me/verifications")
@verify.input(HistoryQuery, location="query", arg_name="query")
@verify.doc(summary="Who verified me, when, and what was disclosed", security=[{"bearer": []}])
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
