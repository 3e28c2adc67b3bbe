"""Official-account followers and the citizen each one is: linked by UnionID, never by openid
across apps.

Invariants:
- With two app ids, a follower is a citizen only through the UnionID WeChat gave both apps:
  the official account's openid is never looked up among mini-program openids, so a message
  whose ``FromUserName`` happens to be someone's mini-program openid reaches nobody's data.
- With one app id for both (:attr:`WeChatConfig.single_account`), the follower's openid is the
  citizen's openid, as WeChat itself guarantees within one app.
- Recording a follow is idempotent under concurrent redeliveries (one row per app and openid).
- The UnionID is fetched with ``cgi-bin/user/info`` after commit, through the outbox, never
  inside WeChat's 5-second reply window.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.wechat.config import WeChatConfig
from storage.models.citizen import Citizen
from storage.models.follower import Follower


def follower_row(session: Session, app_id: str, openid: str) -> Follower | None:
    """The follower row of ``openid`` in the official account ``app_id``."""
    return session.scalars(
        select(Follower).where(Follower.app_id == app_id, Follower.openid == openid)
    ).one_or_none()


def record_follow(
    session: Session, app_id: str, openid: str, *, subscribed: bool, now: dt.datetime
) -> Follower:
    """Create or update the follower row for a subscribe (or unsubscribe) event."""
    row = follower_row(session, app_id, openid)
    if row is None:
        row = Follower(app_id=app_id, openid=openid[:64], subscribed=subscribed, followed_at=now)
        try:
            with session.begin_nested():  # a concurrent redelivery may insert it first
                session.add(row)
        except IntegrityError:
            row = follower_row(session, app_id, openid)
            if row is None:  # pragma: no cover - the winner's row is committed by now
                raise
    row.subscribed = subscribed
    if subscribed:
        row.followed_at = now
    return row


def link_unionid(
    session: Session, app_id: str, openid: str, unionid: str, *, now: dt.datetime
) -> Follower:
    """Record the UnionID WeChat gave for a follower (from ``user/info``)."""
    row = follower_row(session, app_id, openid) or record_follow(
        session, app_id, openid, subscribed=True, now=now
    )
    if row.unionid != unionid:
        row.unionid, row.linked_at = unionid[:64], now
    return row


def unlink_unionid(session: Session, unionid: str) -> int:
    """Forget ``unionid`` on every follower row (account erasure); returns how many."""
    result = session.execute(
        update(Follower).where(Follower.unionid == unionid).values(unionid=None, linked_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def citizen_for(session: Session, config: WeChatConfig, openid: str) -> Citizen | None:
    """The citizen behind an official-account openid, or None when not (yet) linked."""
    if config.single_account:
        return session.scalars(select(Citizen).where(Citizen.openid == openid)).one_or_none()
    follower = follower_row(session, config.oa_app_id, openid)
    if follower is None or not follower.unionid:
        return None
    return session.scalars(select(Citizen).where(Citizen.unionid == follower.unionid)).one_or_none()


def follower_openid_for(
    session: Session, config: WeChatConfig, openid: str, unionid: str | None
) -> str | None:
    """The official-account openid of the citizen with mini-program ``openid`` and ``unionid``,
    when they currently follow the account (with one app id, the openid itself)."""
    if config.single_account:
        return openid
    if not unionid:
        return None
    return session.scalars(
        select(Follower.openid).where(
            Follower.app_id == config.oa_app_id,
            Follower.unionid == unionid,
            Follower.subscribed.is_(True),
        )
    ).first()


def needs_unionid(session: Session, config: WeChatConfig, openid: str) -> bool:
    """True when a follower's UnionID is still unknown (two app ids only)."""
    if config.single_account:
        return False
    follower = follower_row(session, config.oa_app_id, openid)
    return follower is None or not follower.unionid
