"""Subscribe messages (``message/subscribe/send``) to citizens, sent after commit via the outbox.

Invariants:
- Domain code never calls this module: :mod:`bot.wechat.subscribers` does, for domain events.
- :func:`enqueue_notification` writes in the caller's transaction only; the message leaves after
  commit and is retried (see :mod:`bot.wechat.outbox`).
- ``verified_by_merchant`` is queued only when the citizen opted in
  (``Citizen.notify_on_verification``); the other kinds always are.
- Payloads hold the openid, the template keyword values and nothing secret: never an ID number,
  token or code. Template ids are read at send time, so a configuration change applies to rows
  already queued.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.wechat import outbox
from bot.wechat.errors import WeChatError
from storage.models.citizen import Citizen

KINDS = ("credential_issued", "credential_removed", "verified_by_merchant", "credential_taken_over")
# User refused or did not subscribe (43101), bad openid (40003), bad template (40037), bad data
# (47003): retrying cannot help.
NOT_RETRYABLE = {43101, 40003, 40037, 47003}
_DEFAULT_TEXT = {
    "credential_issued": "网证已领取",
    "credential_removed": "网证已因在其他设备登录而失效",
    "verified_by_merchant": "您的网证刚刚被商户核验",
    "credential_taken_over": "网证已被其他微信账号领取",
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


def deliver_subscribe_message(dispatcher: outbox.OutboxDispatcher, payload: dict[str, Any]) -> str:
    """Deliver one queued subscribe message (the outbox's ``subscribe_message`` kind)."""
    config = dispatcher.config
    template = config.templates.get(str(payload.get("kind")), "")
    if not template:
        raise outbox.Dropped("no template configured")
    data = {key: {"value": value} for key, value in dict(payload.get("data") or {}).items()}
    taken_over = payload.get("kind") == "credential_taken_over"
    page = config.dispute_page if taken_over else config.pass_page
    if payload.get("query"):
        page += "?" + urlencode(dict(payload["query"]))
    try:
        dispatcher.api().call(
            lambda client: client.wxa.send_subscribe_message(
                payload["touser"], template, data, page=page
            ),
            "subscribe.send",
        )
    except WeChatError as exc:
        if exc.details.get("errcode") in NOT_RETRYABLE:
            raise outbox.Dropped(f"errcode {exc.details['errcode']}") from exc
        raise
    return "sent"
