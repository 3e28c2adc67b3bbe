"""Pydantic pieces shared by the blueprints: vocabulary fields and the error envelope.

Invariants:
- Request models are strict (``extra="forbid"``, no coercion); a vocabulary field accepts
  exactly the values of its :mod:`bot.vocab` enum, given as JSON strings.
- Response models forbid extra fields too, so a handler cannot send a field that
  ``/openapi.json`` does not describe: APIFlask's ``@output`` validates every body on its way
  out, and a mismatch is a 500 in tests, never a silent drift of the document.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bot.vocab import (
    CredentialReason,
    CredentialStatus,
    Level,
    MerchantCategory,
    Scope,
    VerifyReason,
    VerifyResult,
)

# JSON carries enum values as strings; strict mode would only take enum instances.
LevelField = Annotated[Level, Field(strict=False)]
ScopeField = Annotated[Scope, Field(strict=False)]
CategoryField = Annotated[MerchantCategory, Field(strict=False)]
CredentialStatusField = Annotated[CredentialStatus, Field(strict=False)]
CredentialReasonField = Annotated[CredentialReason, Field(strict=False)]
VerifyResultField = Annotated[VerifyResult, Field(strict=False)]
VerifyReasonField = Annotated[VerifyReason, Field(strict=False)]


class Out(BaseModel):
    """Base of every response model: exactly the declared fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Out):
    """A stable snake_case ``code``, a message for people, and sometimes ``details``."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str
    details: dict[str, Any] | None = None


class ErrorEnvelope(Out):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorBody
