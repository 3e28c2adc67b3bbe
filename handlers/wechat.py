"""``/wechat/callback``: WeChat's server-to-server callbacks (URL verification and messages).

Invariants: the body size is checked before it is read; nothing is parsed before the signature
is verified (see :mod:`bot.wechat.webhook`); a bad signature is 403 and writes nothing; the
answer is computed locally and fast (well within WeChat's 5 seconds) and slow work is left to
the outbox, which runs after the response.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from bot.extensions import clock, database, store
from bot.wechat.app import wechat_config
from bot.wechat.errors import BodyTooLarge
from bot.wechat.events import handle_message
from bot.wechat.webhook import CallbackQuery, open_message, seal_reply, verify_echo

wechat_bp = APIBlueprint("wechat", __name__, url_prefix="/wechat", tag="WeChat")
TEXT: dict[str, dict[str, Any]] = {"text/plain": {"schema": {"type": "string"}}}
REPLY: dict[str, dict[str, Any]] = {**TEXT, "application/xml": {"schema": {"type": "string"}}}
# Success is text or XML; errors are the JSON envelope (a string value gets APIFlask's HTTPError).
VERIFY_URL_RESPONSES: dict[int | str, Any] = {
    200: {"description": "echostr", "content": TEXT},
    403: "invalid_signature or replayed_message",
}
RECEIVE_RESPONSES: dict[int | str, Any] = {
    200: {"description": "the reply XML (sealed in safe mode), or success", "content": REPLY},
    400: "malformed_xml",
    403: "invalid_signature or replayed_message",
    413: "payload_too_large",
}


def _query() -> CallbackQuery:
    """The callback's query parameters (missing ones are empty and fail the signature check)."""
    args = request.args
    return CallbackQuery(
        signature=args.get("signature", "")[:64],
        timestamp=args.get("timestamp", "")[:16],
        nonce=args.get("nonce", "")[:64],
        msg_signature=args.get("msg_signature", "")[:64],
        encrypt_type=args.get("encrypt_type", "")[:8],
        echostr=args.get("echostr", "")[:1024],
    )


def _text(body: str) -> Response:
    return Response(body, mimetype="text/plain")


def _read_body(limit: int) -> bytes:
    """At most ``limit`` bytes of body, or :class:`BodyTooLarge`."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge()
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge()
    return body


@wechat_bp.get("/callback")
@wechat_bp.doc(summary="WeChat URL verification", responses=VERIFY_URL_RESPONSES)
def verify_url() -> Response:
    """Answer WeChat's URL check with ``echostr`` (decrypted first when it is encrypted)."""
    return _text(verify_echo(wechat_config(), _query()))


@wechat_bp.post("/callback")
@wechat_bp.doc(summary="WeChat message and event push", responses=RECEIVE_RESPONSES)
def receive() -> Response:
    """Authenticate and handle one message; reply XML (sealed in safe mode) or ``success``."""
    config = wechat_config()
    query = _query()
    body = _read_body(config.max_body_bytes)
    message = open_message(store(), config, query, body)
    with database().transaction() as session:
        now = dt.datetime.fromtimestamp(clock()(), dt.UTC)
        reply = handle_message(session, config, message, now=now)
    if reply is None:
        return _text("success")
    rendered = reply.render()
    if query.safe_mode:
        rendered = seal_reply(config, rendered, query)
    return Response(rendered, mimetype="application/xml")
