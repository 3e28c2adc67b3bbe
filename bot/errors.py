"""The one error hierarchy of Wangzheng.

Invariants:
- Every error a client may see is a :class:`WangzhengError` with a stable snake_case ``code``,
  a human message and an HTTP ``status``. Codes are part of the API and never change meaning.
- Messages never contain secrets, tokens, ID numbers or image bytes: they are shown to clients
  and written to logs.
- Domain packages subclass these (``FaceError``, ``WeChatError`` ...); ``handlers.errors``
  turns any of them into a response in one place.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WangzhengError(Exception):
    """Base error: ``code`` (stable), ``message`` (for people) and HTTP ``status``."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    message: str

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` body that clients receive."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationFailed(WangzhengError):
    """The request does not have the expected shape."""

    code = "validation_error"
    status = 400


class MalformedBody(WangzhengError):
    """The request body could not be parsed."""

    code = "malformed_body"
    status = 400


class Unauthenticated(WangzhengError):
    """Authentication is missing or invalid."""

    code = "unauthenticated"
    status = 401


class Forbidden(WangzhengError):
    """The caller may not do this."""

    code = "forbidden"
    status = 403


class NotFound(WangzhengError):
    """The resource does not exist."""

    code = "not_found"
    status = 404


class Conflict(WangzhengError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class UnsupportedMediaType(WangzhengError):
    """The request body has the wrong content type."""

    code = "unsupported_media_type"
    status = 415


class RateLimited(WangzhengError):
    """Too many requests; try again later."""

    code = "rate_limited"
    status = 429


class ServiceUnavailable(WangzhengError):
    """A dependency is unavailable; the request can be retried."""

    code = "service_unavailable"
    status = 503
