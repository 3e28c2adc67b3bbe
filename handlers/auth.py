"""Request authentication for mini-program endpoints.

Invariant: a handler that calls :func:`current_citizen` either gets the principal of a live,
device-bound session or the request ends with 401 ``session_invalid``; the token is never logged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from bot.devices.errors import SessionInvalid
from bot.devices.sessions import Principal, authenticate
from bot.extensions import database

BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "Mini-program access token"}


def bearer_token() -> str:
    """The token from ``Authorization: Bearer ...`` or raise 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 512:
        raise SessionInvalid("Send Authorization: Bearer <access token>.")
    return token.strip()


def current_citizen() -> Principal:
    """The authenticated citizen for this request (cached on ``g``)."""
    cached = g.get("principal")
    if isinstance(cached, Principal):
        return cached
    token = bearer_token()
    with database().transaction() as session:
        principal = authenticate(session, token)
    g.principal = principal
    return principal


View = TypeVar("View", bound=Callable[..., Any])


def citizen_required(view: View) -> View:
    """Authenticate before the request body is parsed or validated (put it under the route).

    ``functools.wraps`` keeps APIFlask's ``_spec`` on the wrapper, so the OpenAPI document and
    the content-type check still see the endpoint's declared input.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_citizen()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
