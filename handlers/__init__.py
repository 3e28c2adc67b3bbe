"""Flask blueprints. A handler parses the request, calls a service and renders the result."""

from __future__ import annotations

from apiflask import APIFlask


def register_blueprints(app: APIFlask) -> None:
    """Register every blueprint of the service."""
    from handlers.ops import ops

    app.register_blueprint(ops)
    from handlers.liveness import liveness

    app.register_blueprint(liveness)
