"""Pydantic pieces shared by the blueprints: vocabulary fields, response bases, the error envelope.

Invariants:
- Request models are strict (``extra="forbid"``, no coercion); a vocabulary field accepts
  exactly the values of its :mod:`bot.vocab` enum, given as JSON strings.
- Response models (:class:`Out`) forbid undeclared fields, and APIFlask's ``@output`` validates
  every body on its way out: a handler cannot send what ``/openapi.json`` does not describe.
  A field without a default is always present (``X | None`` then means present and maybe
  null); a field with a default may be absent, and is left out when the handler leaves it out.
- Every error body is :data:`ERROR_SCHEMA`, registered as APIFlask's HTTP and validation error
  schema, so each declared 4xx/5xx of every operation points at it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_serializer

from bot.vocab import (
    BillStatus,
    Capability,
    CredentialReason,
    CredentialStatus,
    Factor,
    Level,
    MerchantCategory,
    Scope,
    TerminalSessionStatus,
    VerifyReason,
    VerifyResult,
)

# JSON carries enum values as strings; strict mode would only take enum instances.
LevelField = Annotated[Level, Field(strict=False)]
ScopeField = Annotated[Scope, Field(strict=False)]
CapabilityField = Annotated[Capability, Field(strict=False)]
CategoryField = Annotated[MerchantCategory, Field(strict=False)]
CredentialStatusField = Annotated[CredentialStatus, Field(strict=False)]
CredentialReasonField = Annotated[CredentialReason, Field(strict=False)]
VerifyResultField = Annotated[VerifyResult, Field(strict=False)]
VerifyReasonField = Annotated[VerifyReason, Field(strict=False)]
TerminalSessionStatusField = Annotated[TerminalSessionStatus, Field(strict=False)]
FactorField = Annotated[Factor, Field(strict=False)]
# Timestamps are sent as ISO 8601 strings with their offset, exactly as the handler wrote them.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Out(BaseModel):
    """Base of every response model: exactly the declared fields, as the handler gave them."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _as_given(self, handler: Any) -> Any:
        """Leave out optional fields the handler did not send (no invented ``null``)."""
        data = handler(self)
        given = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in data.items() if key in given}


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error: a stable snake_case code, a message for people, maybe details.",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

# The errors every body endpoint can answer before its handler runs.
BODY_ERRORS = {
    400: "malformed_body or validation_error (the body is not what the schema says)",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
CITIZEN_ERRORS = {401: "session_invalid: no, expired or revoked access token"}
PRESENTATION_ERRORS = {
    **CITIZEN_ERRORS,
    403: "device_not_bound: the credential is bound to another device; device_not_proven: this "
    "session's login did not prove the device's key; unlock_required: the citizen's biometric "
    "unlock (WeChat SOTER) is on and this device has not unlocked recently",
    404: "no_credential: no active credential",
}
WECHAT_ERRORS = {
    429: "wechat_rate_limited (Retry-After)",
    502: "wechat_error: WeChat refused or answered nonsense",
    503: "wechat_unavailable or wechat_quota_exceeded (Retry-After when it is worth retrying)",
}


def declare_headers(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """Add the headers our error answers carry to /openapi.json (APIFlask's spec processor).

    A secured operation's 401 always carries ``WWW-Authenticate: Bearer`` (required; a terminal
    operation's says ``WZ-HMAC-SHA256``); a 429 or
    503 may carry ``Retry-After`` in seconds (not every 503 does, so it is optional). Every
    request body is required: a body endpoint answers 415 without one (``check_content_type``),
    and schemathesis must not take a missing body for valid input.
    """
    challenge = {
        "description": "Bearer (RFC 6750)",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    }
    terminal_challenge = {
        "description": "WZ-HMAC-SHA256 (docs/terminals.md)",
        "required": True,
        "schema": {"type": "string", "pattern": "^WZ-HMAC-SHA256"},
    }
    retry = {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    if isinstance(spec, str):
        return spec
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if isinstance(operation.get("requestBody"), dict):
                operation["requestBody"]["required"] = True
            if operation.get("security") and "401" in responses:
                signed = any("terminal_signature" in need for need in operation["security"])
                responses["401"].setdefault("headers", {})["WWW-Authenticate"] = (
                    terminal_challenge if signed else challenge
                )
            for status in ("429", "503"):
                if status in responses:
                    responses[status].setdefault("headers", {})["Retry-After"] = retry
    return spec


BillStatusField = Annotated[BillStatus, Field(strict=False)]
# A calendar date as ISO 8601 (YYYY-MM-DD); pydantic parses it from the JSON string.
DateField = Annotated[dt.date, Field(strict=False)]


class BillOut(Out):
    """A bill as its payer and its agency see it; amounts in integer fen, no ID number."""

    id: str
    agency_ref: str
    item_code: str
    item_name: str
    agency: str
    city: str
    amount_fen: int
    refunded_fen: int
    due_on: str = Field(json_schema_extra={"format": "date"})
    status: BillStatusField
    level_required: LevelField
    payer_name_masked: str
    paid_at: Timestamp | None


def bill_out(view: Any) -> dict[str, Any]:
    """A :class:`bot.payments.bills.BillView` as :class:`BillOut` data."""
    return {
        "id": view.id,
        "agency_ref": view.agency_ref,
        "item_code": view.item_code,
        "item_name": view.item_name,
        "agency": view.agency,
        "city": view.city,
        "amount_fen": view.amount_fen,
        "refunded_fen": view.refunded_fen,
        "due_on": view.due_on.isoformat(),
        "status": view.status,
        "level_required": view.level_required,
        "payer_name_masked": view.payer_name_masked,
        "paid_at": view.paid_at.isoformat() if view.paid_at else None,
    }
