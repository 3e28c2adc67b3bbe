"""Flask blueprints. A handler parses the request, calls a service and renders the result."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    """Register every blueprint of the service."""
    from handlers.ops import ops

    app.register_blueprint(ops)
    from handlers.enrollments import enrollments
    from handlers.liveness import liveness

    app.register_blueprint(liveness)
    app.register_blueprint(enrollments)
    from handlers.admin_merchants import admin_merchants
    from handlers.credentials import credentials
    from handlers.scanner import scanner
    from handlers.verify import verify

    app.register_blueprint(credentials)
    app.register_blueprint(verify)
    app.register_blueprint(admin_merchants)
    app.register_blueprint(scanner)
    from bot.extensions import settings as app_settings
    from bot.wechat.app import init_app as init_wechat
    from bot.wechat.cli import wechat_cli
    from handlers.miniprogram import miniprogram
    from handlers.wechat import wechat_bp

    init_wechat(app, app_settings(app))
    app.register_blueprint(wechat_bp)
    app.register_blueprint(miniprogram)
    app.cli.add_command(wechat_cli)
