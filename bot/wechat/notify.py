"""Messages to citizens, sent after commit via the outbox: mini-program subscribe messages
(``message/subscribe/send``) or official-account template messages (``message/template/send``).

Invariants:
- Domain code never calls this module: :mod:`bot.wechat.subscribers` does, for domain events.
- :func:`enqueue_notification` writes in the caller's transaction only; the message leaves after
  commit and is retried (see :mod:`bot.wechat.outbox`).
- ``verified_by_merchant`` is queued only when the citizen opted in
  (``Citizen.notify_on_verification``); the other kinds always are.
- Payloads hold the openid, the UnionID, the template keyword values and nothing secret: never
  an ID number, token or code. Template ids and the channel
  (``WANGZHENG_WECHAT_NOTIFY_CHANNEL``) are read at send time, so a configuration change applies
  to rows already queued. A kind without a template id is not sent (the row is ``dropped``).
- A template message goes only to a current follower of the official account, found by the
  citizen's UnionID (or, with one app id for both, their openid); it is never addressed by a
  mini-program openid in another app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.wechat import outbox
from bot.wechat.client import WeChatApi
from bot.wechat.config import TEMPLATE_SETTINGS
from bot.wechat.errors import WeChatError
from bot.wechat.followers import follower_openid_for
from storage.models.citizen import Citizen

KINDS = tuple(TEMPLATE_SETTINGS)
# User refused or did not subscribe (43101), bad openid (40003), bad template (40037), bad data
# (47003), not a follower (43004): retrying cannot help.
NOT_RETRYABLE = {43101, 40003, 40037, 47003, 43004}
_DEFAULT_TEXT = {
    "credential_issued": "网证已领取",
    "credential_removed": "网证已因在其他设备登录而失效",
    "verified_by_merchant": "您的网证刚刚被商户核验",
    "credential_taken_over": "网证已被其他微信账号领取",
    "credential_superseded": "网证已重新签发，旧网证已失效",
    "card_reported_lost": "身份证已挂失，网证已失效",
    "bill_paid": "缴费成功",
    "bill_refunded": "缴费已退款",
}
UNKNOWN_DEVICE = "未知设备"


def default_data(kind: str, now: dt.datetime | None = None) -> dict[str, str]:
    """Template values used when the caller gives none: ``thing1`` (what) and ``time2`` (when)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    return {"thing1": _DEFAULT_TEXT[kind], "time2": moment.strftime("%Y-%m-%d %H:%M")}


def enqueue_notification(
    session: Session,
    citizen_id: int,
    kind: str,
    data: Mapping[str, str] | None = None,
    *,
    query: Mapping[str, str] | None = None,
) -> bool:
    """Queue a subscribe message for ``citizen_id``; True when one was queued.

    ``kind`` is one of :data:`KINDS`; ``data`` maps the template's keyword names (``thing1``,
    ``time2``, ...) to values and is merged over :func:`default_data`. ``query`` is appended to
    the mini-program page the message opens (the dispute page for ``credential_taken_over``,
    else the pass page).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        return False
    if kind == "verified_by_merchant" and not citizen.notify_on_verification:
        return False
    values = {**default_data(kind), **{k: str(v)[:20] for k, v in (data or {}).items()}}
    payload: dict[str, Any] = {"touser": citizen.openid, "kind": kind, "data": values}
    if citizen.unionid:
        payload["unionid"] = citizen.unionid
    if query:
        payload["query"] = dict(query)
    outbox.enqueue(session, "subscribe_message", payload)
    return True


def notify_credential_taken_over(
    session: Session,
    previous_openid: str,
    *,
    takeover_id: str,
    device_model: str | None,
    occurred_at: dt.datetime,
) -> bool:
    """Tell the previous holder their credential moved to another account: what, when, on
    which device model, and a link (the dispute page with ``takeover``) to undo it.

    The one place the takeover message is composed; :mod:`bot.wechat.subscribers` calls it for
    :class:`~bot.events.CredentialTakenOver`, in the issuing transaction.
    """
    citizen_id = session.scalars(
        select(Citizen.id).where(Citizen.openid == previous_openid)
    ).one_or_none()
    if citizen_id is None:
        return False
    data = {
        **default_data("credential_taken_over", occurred_at),
        "thing3": device_model or UNKNOWN_DEVICE,
        "thing4": "不是本人？点此撤销",
    }
    return enqueue_notification(
        session, citizen_id, "credential_taken_over", data, query={"takeover": takeover_id}
    )


def _rendered(
    dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]
) -> tuple[str, str, dict[str, dict[str, str]]]:
    """The configured template id of the message's kind, the mini-program page it opens, and
    its data in WeChat's ``{keyword: {"value": ...}}`` form (the same for both channels)."""
    config = dispatcher.config
    template = config.templates.get(str(payload.get("kind")), "")
    if not template:
        raise outbox.Dropped("no template configured")
    taken_over = payload.get("kind") == "credential_taken_over"
    page = config.dispute_page if taken_over else config.pass_page
    if payload.get("query"):
        page += "?" + urlencode(dict(payload["query"]))
    data = {key: {"value": value} for key, value in dict(payload.get("data") or {}).items()}
    return template, page, data


def _call(api: WeChatApi, operation: Callable[[Any], Any], where: str) -> str:
    """Run one send; errors that retrying cannot fix drop the row, others retry it."""
    try:
        api.call(operation, where)
    except WeChatError as exc:
        if exc.details.get("errcode") in NOT_RETRYABLE:
            raise outbox.Dropped(f"errcode {exc.details['errcode']}") from exc
        raise
    return "sent"


def deliver_subscribe_message(dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]) -> str:
    """Deliver one queued message as a mini-program subscribe message."""
    template, page, data = _rendered(dispatcher, payload)
    return _call(
        dispatcher.api(),
        lambda client: client.wxa.send_subscribe_message(
            payload["touser"], template, data, page=page
        ),
        "subscribe.send",
    )


def deliver_template_message(
    dispatcher: outbox.OutboxDispatcher, oa_api: WeChatApi, payload: dict[str, Any]
) -> str:
    """Deliver one queued message as an official-account template message that opens the
    mini-program page."""
    template, page, data = _rendered(dispatcher, payload)
    with dispatcher.database.transaction() as session:
        touser = follower_openid_for(
            session, dispatcher.config, payload["touser"], payload.get("unionid")
        )
    if touser is None:
        raise outbox.Dropped("the citizen does not follow the official account")
    mini_program = {"appid": dispatcher.config.app_id, "pagepath": page}
    return _call(
        oa_api,
        lambda client: client.message.send_template(
            touser, template, data, mini_program=mini_program
        ),
        "template.send",
    )


def notification_deliverer(oa_api: Callable[[], WeChatApi]) -> outbox.Deliver:
    """The deliverer of queued messages (the outbox's ``subscribe_message`` kind), through the
    channel the configuration names at send time."""

    def deliver(dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]) -> str:
        if dispatcher.config.notify_channel == "template":
            return deliver_template_message(dispatcher, oa_api(), payload)
        return deliver_subscribe_message(dispatcher, payload)

    return deliver
