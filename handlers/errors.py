"""The single place where errors become responses.

Invariants:
- Any :class:`~bot.errors.WangzhengError` becomes ``{"error": {"code", "message"}}`` with its
  status for API clients, or the HTML error page for browsers.
- Validation failures, malformed bodies, 404/405/413/415 get the same JSON shape and stable codes.
- A dependency outage (:data:`DEPENDENCY_OUTAGES`: the database or Redis refusing, hung or
  timed out) is 503 ``service_unavailable`` with ``Retry-After`` on every endpoint.
- An unexpected exception becomes a 500 whose body holds only the request id; the traceback goes
  to the log (redacted), never to the client. The request's transaction has already rolled back
  because :meth:`storage.db.Database.transaction` rolls back on any exception.
"""

from __future__ import annotations

import io
import logging
from typing import IO, Any

import redis.exceptions
from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Request, Response, g, jsonify, render_template, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from bot.errors import (
    MalformedBody,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    WangzhengError,
)
from bot.security_headers import SELF, allow
from handlers.edge import (
    check_form_fields,
    check_json_strings,
    check_request,
    declare_edge_errors,
    expected_body,
)
from handlers.schemas import ERROR_SCHEMA, declare_headers

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# A dependency that does not answer (or refuses): the request can be retried as it is.
DEPENDENCY_OUTAGES: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,  # PostgreSQL/SQLite unreachable, hung (storage.bounded), timed out
    sa_exc.TimeoutError,  # no free pooled connection within WANGZHENG_DATABASE_POOL_TIMEOUT_S
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
RETRY_AFTER_S = "1"


class WangzhengRequest(Request):
    """Request whose JSON decoding failure is a stable ``malformed_body`` error, and whose
    uploads stay in memory (werkzeug would spool parts over 500 KB to a temporary file; selfies
    must never touch the disk, and ``MAX_CONTENT_LENGTH`` already bounds the size).
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        """An in-memory buffer for each uploaded part."""
        return io.BytesIO()

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Raise our error instead of werkzeug's generic 400."""
        raise MalformedBody("The request body is not valid JSON.")

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The decoded body, refused (400 ``invalid_characters``) if a string holds a control
        character; decoded only when a handler asks, so after authentication."""
        value = super().get_json(force=force, silent=silent, cache=cache)
        check_json_strings(value)
        return value

    def _load_form_data(self) -> None:
        """Parse the form once, then refuse control characters in its text fields."""
        super()._load_form_data()
        check_form_fields(self.form)


def wants_json() -> bool:
    """API paths always get JSON; elsewhere follow the Accept header (browsers get HTML)."""
    if request.path.startswith(("/api/", "/admin/api/", "/wechat/", "/openapi")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best != "text/html"


def render_error(error: WangzhengError) -> Response:
    """JSON or HTML, with the error's status and headers."""
    if wants_json():
        response = jsonify(error.to_dict())
    else:
        allow(style_src=SELF, img_src="data:")  # base.css and the empty favicon, nothing else
        response = Response(
            render_template("error.html", error=error, request_id=g.get("request_id", "-")),
            mimetype="text/html",
        )
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def check_content_type() -> None:
    """415 when a body endpoint receives the wrong content type."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    expected = expected_body(request.endpoint)
    if expected == "json" and not request.is_json:
        raise UnsupportedMediaType("Send the body as application/json.")
    if expected == "form" and request.mimetype not in _FORM_TYPES:
        raise UnsupportedMediaType("Send the body as multipart/form-data.")


def _from_validation(error: HTTPError) -> WangzhengError:
    """APIFlask's validation error in our shape, with the per-field messages."""
    details = error.detail if isinstance(error.detail, dict) else {}
    return ValidationFailed("The request is not valid.", details={"fields": details})


def _from_http(error: HTTPException) -> WangzhengError:
    """A werkzeug HTTP exception in our shape."""
    status = error.code or 500
    code = _HTTP_CODES.get(status, "http_error")
    return WangzhengError(error.description or error.name, code=code, status=status)


def register_error_handlers(app: APIFlask) -> None:
    """Install every error handler, once, for the whole app."""
    app.request_class = WangzhengRequest
    # /openapi.json: every declared error response is our envelope, not APIFlask's own shape.
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["VALIDATION_ERROR_DESCRIPTION"] = "malformed_body or validation_error"
    app.config["AUTH_ERROR_DESCRIPTION"] = "Authentication failed (WWW-Authenticate: Bearer)"
    app.spec_processor(declare_headers)
    app.before_request(check_content_type)
    app.before_request(check_request)
    declare_edge_errors(app)

    @app.errorhandler(WangzhengError)
    def handle_domain(error: WangzhengError) -> Response:
        return render_error(error)

    @app.errorhandler(HTTPError)
    def handle_apiflask(error: HTTPError) -> Response:
        if error.status_code in (400, 422):
            return render_error(_from_validation(error))
        return render_error(
            WangzhengError(
                error.message,
                status=error.status_code,
                code=_HTTP_CODES.get(error.status_code, "http_error"),
            )
        )

    @app.errorhandler(HTTPException)
    def handle_http(error: HTTPException) -> Response:
        return render_error(_from_http(error))

    def handle_outage(error: Exception) -> Response:
        # The type only: a driver's message may quote SQL text or an address.
        log.warning("dependency unavailable: %s", type(error).__name__)
        return render_error(
            ServiceUnavailable(
                "A service this request needs is unavailable; retry shortly.",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        )

    for outage in DEPENDENCY_OUTAGES:
        app.register_error_handler(outage, handle_outage)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        rid = g.get("request_id", "-")
        log.error("unhandled %s", type(error).__name__, exc_info=error)
        return render_error(
            WangzhengError(
                f"Internal error. Quote request id {rid} when reporting it.",
                code="internal_error",
                status=500,
            )
        )
