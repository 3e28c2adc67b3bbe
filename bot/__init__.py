"""Wangzheng: the app factory. Everything else lives in the domain packages and ``handlers``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app(config: Mapping[str, Any] | None = None) -> APIFlask:
    """Build the app from the environment plus ``config`` overrides (tests pass these).

    Raises :class:`bot.config.ConfigError`, naming the variable, when a production secret
    is missing or weak.
    """
    from bot import observability, security_headers
    from bot.cli import register_commands
    from bot.config import PROJECT_ROOT, load_settings
    from bot.devices.soter import set_soter_verifier
    from bot.extensions import clock, event_bus, init_extensions
    from bot.face import register_face
    from bot.history.log import HistoryLog
    from bot.logs import configure_logging
    from bot.wechat.app import init_app as init_wechat
    from bot.wechat.app import wechat_api
    from bot.wechat.soter import WeChatSoterVerifier
    from handlers import register_blueprints
    from handlers.errors import register_error_handlers

    settings = load_settings(overrides=config)
    configure_logging(settings.log_level)
    app = APIFlask(
        "wangzheng",
        title="Wangzheng",
        version="1.0",
        spec_path="/openapi.json",
        docs_path=None,  # handlers.api_docs serves /docs from our own static files
        json_errors=False,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        VALIDATION_ERROR_STATUS_CODE=400,
        TESTING=settings.is_testing,
        SYNC_LOCAL_SPEC=False,
    )
    if settings.trusted_proxies:
        # Believe exactly this many X-Forwarded-For/-Proto hops, so request.remote_addr (and the
        # audit's client-IP hash) is the client's, not the proxy's; the rest are client-supplied.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.info = {"description": "Wangzheng (網證) electronic identity credential backend."}
    init_extensions(app, settings)
    HistoryLog(settings, clock(app)).subscribe(event_bus(app))
    observability.init_app(app)
    security_headers.init_app(app)
    register_error_handlers(app)
    init_wechat(app, settings)
    # WeChat SOTER (fingerprint unlock) is always available: the domain gets it as a protocol.
    set_soter_verifier(app, WeChatSoterVerifier(lambda: wechat_api(app)))
    if settings.enrol_liveness == "wechat":
        from bot.identity.delegated import set_face_verifier
        from bot.wechat.face import WeChatFaceVerifier

        set_face_verifier(app, WeChatFaceVerifier(lambda: wechat_api(app)))
    if settings.payments_enabled:
        from bot.payments.gateway import set_payment_gateway
        from bot.wechat.app import wechat_pay_gateway

        set_payment_gateway(app, wechat_pay_gateway(app, settings))
    register_blueprints(app, development=settings.env == "development")
    register_commands(app)
    register_face(app)
    return app
