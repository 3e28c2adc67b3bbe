"""Flask blueprints. A handler parses the request, calls a service and renders the result.

A new JSON endpoint follows the same rule as every other one, or ``tests/handlers/test_openapi.py``
and the answer check (``tests/openapi_check.py``) fail:
- authentication through :mod:`handlers.auth` (``@bp.auth_required(citizen_auth)`` right under
  the route), never a bearer header parsed by hand;
- ``@bp.output(SomeOut, status_code=...)`` with a :class:`handlers.schemas.Out` model (201 when
  it creates), and ``@bp.doc(responses=...)`` naming every error status it can answer;
- vocabulary fields typed with :mod:`bot.vocab` (``LevelField``, ``ScopeField`` ...).
"""

from __future__ import annotations

from apiflask import APIFlask

from handlers.admin_merchants import admin_merchants
from handlers.agency_bills import agency_bills
from handlers.api_docs import api_docs
from handlers.bills import bills
from handlers.card_pack import card_pack
from handlers.counter import counter
from handlers.credentials import credentials
from handlers.disputes import disputes
from handlers.enrollments import enrollments
from handlers.history import history
from handlers.liveness import liveness
from handlers.me import me
from handlers.miniprogram import miniprogram
from handlers.ops import ops
from handlers.pages import pages
from handlers.payments_notify import payments_notify
from handlers.scanner import scanner
from handlers.simulator import simulator
from handlers.terminal_claims import terminal_claims
from handlers.terminal_simulator import terminal_simulator
from handlers.terminals import terminals
from handlers.unlock import unlock
from handlers.verify import verify
from handlers.wechat import wechat_bp
from handlers.wechat_face import wechat_face

BLUEPRINTS = (
    ops,
    wechat_bp,
    miniprogram,
    liveness,
    enrollments,
    wechat_face,
    credentials,
    card_pack,
    pages,
    verify,
    counter,
    me,
    history,
    unlock,
    disputes,
    scanner,
    admin_merchants,
    terminals,
    terminal_claims,
    agency_bills,
    bills,
    payments_notify,
    api_docs,
)


def register_blueprints(app: APIFlask, *, development: bool) -> None:
    """Register every blueprint; the browser simulators (the mini-program, with self-registration
    into the registry, and the trusted terminal, with its demo key) only in development: never in
    production, nor in testing, which may face a network.
    """
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if development:
        app.register_blueprint(simulator)
        app.register_blueprint(terminal_simulator)
