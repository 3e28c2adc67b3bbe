"""The one authentication layer: three bearer schemes built on APIFlask's ``HTTPTokenAuth``.

- ``citizen_auth`` (OpenAPI scheme ``bearer``): a mini-program access token of a live,
  device-bound session; failure is 401 ``session_invalid``.
- ``merchant_auth`` (``merchant_key``): an enabled merchant's API key; 401 ``merchant_key_invalid``.
- ``agency_auth`` (``agency_key``): an enabled payment agency's API key; 401
  ``agency_key_invalid``.
- ``admin_auth`` (``admin_key``): ``WANGZHENG_ADMIN_KEY``, compared in constant time; an empty
  configured key refuses everything; 401 ``admin_key_invalid``.
- ``terminal_auth`` (``terminal_signature``): a trusted terminal's HMAC request signature
  (``X-WZ-Signature`` with its terminal id, timestamp and nonce headers, see
  :mod:`bot.terminals.signing` and ``docs/terminals.md``); 401 ``terminal_auth_invalid`` with
  ``WWW-Authenticate: WZ-HMAC-SHA256``.
- ``metrics_auth``: ``WANGZHENG_METRICS_TOKEN`` in constant time, for ``/metrics`` (not a JSON
  endpoint, so not in the document); 401 ``unauthenticated``.

Invariants:
- Each reads ``Authorization: Bearer <token>`` only. A missing header, another scheme or an empty
  token is the scheme's 401, with ``WWW-Authenticate: Bearer`` and the stable body
  ``{"error": {"code", "message"}}``, exactly like a wrong token.
- ``@bp.auth_required(...)`` goes right under the route decorator, so authentication runs
  before the body is parsed or validated; APIFlask then names the scheme in ``/openapi.json``
  and defines it under ``components.securitySchemes``.
- Tokens are never logged and never part of an error message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

from apiflask import APIKeyHeaderAuth, HTTPTokenAuth
from flask import Response, g, request
from werkzeug.datastructures import Authorization

from bot.crypto import same
from bot.devices.errors import DeviceNotProven, SessionInvalid
from bot.devices.sessions import Principal, authenticate
from bot.errors import Unauthenticated
from bot.extensions import clock, database, settings, store
from bot.merchants.accounts import (
    RATE_WINDOW_S,
    MerchantPrincipal,
    authenticate_merchant_cached,
)
from bot.merchants.errors import AdminKeyInvalid, MerchantKeyInvalid
from bot.payments.agencies import AgencyPrincipal, authenticate_agency
from bot.payments.errors import AgencyKeyInvalid
from bot.terminals.errors import TerminalAuthInvalid
from bot.terminals.registry import TerminalPrincipal, terminal_key
from bot.terminals.signing import HEADER_SIGNATURE, verify_request
from handlers.errors import render_error

CHALLENGE = "Bearer"
MAX_ACCESS_TOKEN_CHARS = 512
ADMIN = "admin"


class BearerAuth(HTTPTokenAuth):
    """``HTTPTokenAuth`` whose failures are our domain errors, never Flask-HTTPAuth's text.

    ``verify`` maps a token to its principal or raises the scheme's :class:`Unauthenticated`
    error; ``refuse`` builds that error when no bearer token was sent at all.
    """

    def __init__(
        self,
        name: str,
        description: str,
        verify: Callable[[str], object],
        refuse: Callable[[], Unauthenticated],
        challenge: str = CHALLENGE,
    ) -> None:
        super().__init__(scheme=CHALLENGE, security_scheme_name=name, description=description)
        self._verify = verify
        self._refuse = refuse
        self._challenge = challenge
        self.verify_token(self._check)
        self.error_handler(self._fail)

    def get_auth(self) -> Authorization | None:
        """The bearer token, parsed by hand: werkzeug would read a token holding ``=`` as
        parameters, and a scheme other than Bearer counts as no credentials."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != CHALLENGE.lower() or not token.strip():
            return None
        return Authorization(CHALLENGE.lower(), token=token.strip())

    def authenticate_header(self) -> str:
        """``WWW-Authenticate`` of every 401 (RFC 6750)."""
        return self._challenge

    def require(self) -> object:
        """Authenticate this request now, for a view that is protected only conditionally;
        the principal, or the scheme's 401 raised."""
        auth = self.get_auth()
        if auth is None:
            raise self._refused()
        return self._check(str(auth.token))

    def _refused(self) -> Unauthenticated:
        error = self._refuse()
        error.headers.setdefault("WWW-Authenticate", self._challenge)
        return error

    def _check(self, token: str) -> object:
        try:
            return self._verify(token)
        except Unauthenticated as refused:
            refused.headers.setdefault("WWW-Authenticate", self._challenge)
            raise

    def _fail(self, status: int) -> Response:
        return render_error(self._refused())


def _missing_access_token() -> SessionInvalid:
    return SessionInvalid("Send Authorization: Bearer <access token>.")


def _citizen(token: str) -> Principal:
    if len(token) > MAX_ACCESS_TOKEN_CHARS:
        raise _missing_access_token()
    with database().transaction() as session:
        return authenticate(session, token)


def _merchant(api_key: str) -> MerchantPrincipal:
    now = clock()()
    counted = authenticate_merchant_cached(
        database(), store(), settings(), api_key, int(now // RATE_WINDOW_S),
        g.get("store_prefetch", ()),
    )  # fmt: skip
    g.merchant_calls = (counted.calls_in_window, now)  # for the view's rate limit
    g.store_prefetched = counted.prefetched  # what a blueprint asked to read alongside
    return counted.merchant


def _agency(api_key: str) -> AgencyPrincipal:
    with database().transaction() as session:
        return authenticate_agency(session, settings(), api_key)


def _admin(key: str) -> str:
    expected = settings().admin_key
    if not expected or not same(key, expected):
        raise AdminKeyInvalid()
    return ADMIN


citizen_auth = BearerAuth(
    "bearer", "Mini-program access token (POST /api/v1/mp/login)", _citizen, _missing_access_token
)
merchant_auth = BearerAuth("merchant_key", "Merchant API key", _merchant, MerchantKeyInvalid)
agency_auth = BearerAuth("agency_key", "Payment agency API key", _agency, AgencyKeyInvalid)
admin_auth = BearerAuth("admin_key", "Admin key (WANGZHENG_ADMIN_KEY)", _admin, AdminKeyInvalid)


def _metrics(token: str) -> bool:
    expected = settings().metrics_token
    if not expected or not same(token, expected):
        raise _missing_metrics_token()
    return True


def _missing_metrics_token() -> Unauthenticated:
    return Unauthenticated("Send Authorization: Bearer <metrics token>.")


metrics_auth = BearerAuth(
    "metrics_token",
    "Metrics token (WANGZHENG_METRICS_TOKEN)",
    _metrics,
    _missing_metrics_token,
    challenge='Bearer realm="metrics"',
)


TERMINAL_CHALLENGE = "WZ-HMAC-SHA256"


class TerminalAuth(APIKeyHeaderAuth):
    """The terminal signature scheme: the whole request (method, path, timestamp, nonce and the
    raw body, read and cached here before any parsing) is checked by
    :func:`bot.terminals.signing.verify_request`."""

    def __init__(self) -> None:
        super().__init__(
            param_name=HEADER_SIGNATURE,
            security_scheme_name="terminal_signature",
            description="HMAC-SHA256 request signature of a trusted terminal (docs/terminals.md)",
        )
        self.verify_token(self._check)
        self.error_handler(self._fail)

    def get_auth(self) -> Authorization | None:
        """The signature header, or None (then the 401 of a missing signature)."""
        value = request.headers.get(HEADER_SIGNATURE, "").strip()
        return Authorization("apikey", token=value) if value else None

    def authenticate_header(self) -> str:
        """``WWW-Authenticate`` of every 401."""
        return TERMINAL_CHALLENGE

    @staticmethod
    def _check(_signature: str) -> TerminalPrincipal:
        def lookup(public_id: str) -> tuple[TerminalPrincipal, bytes] | None:
            with database().transaction() as session:
                return terminal_key(session, settings(), public_id)

        query = request.query_string.decode("latin-1")
        try:
            return verify_request(
                store(),
                lookup,
                cast("Mapping[str, str]", request.headers),  # case-insensitive .get
                request.method,
                request.path + ("?" + query if query else ""),
                request.get_data(cache=True),
                clock()(),
            )
        except TerminalAuthInvalid as refused:
            refused.headers.setdefault("WWW-Authenticate", TERMINAL_CHALLENGE)
            raise

    @staticmethod
    def _fail(_status: int) -> Response:
        return render_error(TerminalAuthInvalid(headers={"WWW-Authenticate": TERMINAL_CHALLENGE}))


terminal_auth = TerminalAuth()


def current_terminal() -> TerminalPrincipal:
    """The terminal that :data:`terminal_auth` authenticated for this request."""
    terminal = g.get("flask_httpauth_user")
    if not isinstance(terminal, TerminalPrincipal):
        raise TerminalAuthInvalid(headers={"WWW-Authenticate": TERMINAL_CHALLENGE})
    return terminal


def current_citizen() -> Principal:
    """The citizen that :data:`citizen_auth` authenticated for this request."""
    principal = g.get("flask_httpauth_user")
    if not isinstance(principal, Principal):
        raise _missing_access_token()
    return principal


def proven_citizen() -> Principal:
    """:func:`current_citizen`, whose sign-in proved the device's key: every endpoint that mints
    a presentation token calls this (403 ``device_not_proven`` otherwise)."""
    principal = current_citizen()
    if not principal.device_proven:
        raise DeviceNotProven()
    return principal


def prefetched() -> dict[str, str | None]:
    """Store values read in the merchant's authentication round trip (``g.store_prefetch``)."""
    values: dict[str, str | None] = g.get("store_prefetched", {})
    return values


def merchant_calls() -> tuple[int, float]:
    """Calls the authenticated merchant key made in this rate window, and when this one came."""
    calls: tuple[int, float] = g.get("merchant_calls", (0, 0.0))
    return calls


def current_merchant() -> MerchantPrincipal:
    """The merchant that :data:`merchant_auth` authenticated for this request."""
    merchant = g.get("flask_httpauth_user")
    if not isinstance(merchant, MerchantPrincipal):
        raise MerchantKeyInvalid(headers={"WWW-Authenticate": CHALLENGE})
    return merchant


def current_agency() -> AgencyPrincipal:
    """The agency that :data:`agency_auth` authenticated for this request."""
    agency = g.get("flask_httpauth_user")
    if not isinstance(agency, AgencyPrincipal):
        raise AgencyKeyInvalid(headers={"WWW-Authenticate": CHALLENGE})
    return agency
