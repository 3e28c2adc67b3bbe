"""Security headers on every response: one ``after_request`` hook for the whole app.

Invariants:
- Every response, whatever produced it (a view, an error handler, APIFlask's spec, a static
  file), leaves with a Content-Security-Policy and the other headers in :data:`ALWAYS`.
- The policy starts from ``default-src 'none'`` (as Warehouse's ``csp.py`` does): a response
  may load nothing. A view or error page that renders HTML names exactly the sources it needs
  with :func:`allow`, for this one response. No policy ever holds ``'unsafe-inline'`` or
  ``'unsafe-eval'``: templates carry no inline script or style.
- A response gets ``Cache-Control: no-store`` unless its view chose a caching policy itself
  (the JWKS, static files): the mini-program's login and refresh tokens, presentation tokens,
  the QR and personal data are never kept by a browser cache or a proxy.
- Over HTTPS (``request.is_secure``, which sees the client's scheme through ProxyFix when
  ``WANGZHENG_TRUSTED_PROXIES`` is set) every response, so every HTML page, carries
  ``Strict-Transport-Security``. Over plain HTTP browsers ignore it, so it is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, g, request

SELF = "'self'"
NONE = "'none'"
BASE_POLICY: Mapping[str, str] = {
    "default-src": NONE,
    "base-uri": NONE,
    "form-action": NONE,
    "frame-ancestors": NONE,
}
FORBIDDEN_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "*")
ALWAYS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000; includeSubDomains"
_ALLOWED_KEY = "security_headers.allowed"


def allow(**sources: str) -> None:
    """Let this request's response load ``sources``: ``allow(script_src="'self'")``.

    Keyword names are CSP directives with ``_`` for ``-``; values are space-separated sources.
    Raises ``ValueError`` for ``'unsafe-inline'``, ``'unsafe-eval'`` or a wildcard.
    """
    allowed: dict[str, list[str]] = g.setdefault(_ALLOWED_KEY, {})
    for name, value in sources.items():
        for source in value.split():
            if source in FORBIDDEN_SOURCES:
                raise ValueError(f"CSP source {source} is never allowed")
            listed = allowed.setdefault(name.replace("_", "-"), [])
            if source not in listed:
                listed.append(source)


def content_security_policy() -> str:
    """The policy of the current response: the base plus what :func:`allow` added."""
    directives = {name: [value] for name, value in BASE_POLICY.items()}
    for name, sources in g.get(_ALLOWED_KEY, {}).items():
        directives[name] = list(sources)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def set_security_headers(response: Response) -> Response:
    """The ``after_request`` hook."""
    response.headers["Content-Security-Policy"] = content_security_policy()
    for name, value in ALWAYS.items():
        response.headers[name] = value
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def init_app(app: Flask) -> None:
    """Register the hook on the whole app (every blueprint, every error handler)."""
    app.after_request(set_security_headers)
