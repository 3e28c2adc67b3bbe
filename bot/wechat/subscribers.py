"""The WeChat adapter's subscriptions to domain events: card pack updates and subscribe messages.

Invariants:
- Each subscriber runs in the transaction that recorded the event (``bot.events``) and only
  writes outbox rows there; the WeChat calls leave after commit (:mod:`bot.wechat.outbox`).
- The domain never calls WeChat; everything WeChat does about a credential, a device or a
  verification is decided here, so a new event (a terminal's upgrade, a payment) gets a new
  subscriber here and leaves the services that record events untouched.

Subscriptions (``docs/architecture.md`` has the whole table):
- ``CredentialIssued``: the "credential issued" message.
- ``CredentialEnded``: the card code made unavailable; a message by reason: "credential
  removed" for ``device_changed`` (the device-change message), "credential superseded" for
  ``reissued``, "card reported lost" for ``id_card_reported_lost``.
- ``CredentialTakenOver``: the previous holder's message with the undo link.
- ``MerchantVerified``: the "verified by a merchant" message, if the citizen opted in.
- ``BillPaid`` / ``BillRefunded``: the payer's "bill paid" / "bill refunded" message.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.events import (
    AccountErased,
    BillPaid,
    BillRefunded,
    CredentialEnded,
    CredentialIssued,
    CredentialTakenOver,
    EventBus,
    MerchantVerified,
)
from bot.vocab import CredentialReason, Level
from bot.wechat.cards import make_card_unavailable
from bot.wechat.followers import unlink_unionid
from bot.wechat.notify import enqueue_notification, notify_credential_taken_over
from storage.models.citizen import Citizen
from storage.models.credential import Credential


def _citizen_id(session: Session, openid: str) -> int | None:
    return session.scalars(select(Citizen.id).where(Citizen.openid == openid)).one_or_none()


def unlink_follower_on_erasure(session: Session, erased: AccountErased) -> None:
    """An erased account's official-account follower loses its UnionID link: the follower
    stays a follower, but is linked again only if they come back and WeChat says so."""
    if erased.unionid:
        unlink_unionid(session, erased.unionid)


def card_on_credential_ended(session: Session, ended: CredentialEnded) -> None:
    """The ended credential's card leaves the citizen's card pack (under its level's class)."""
    credential = session.get(Credential, ended.credential_id)
    level = credential.level if credential is not None else Level.LIGHT
    make_card_unavailable(session, code=ended.card_code or "", reason=ended.reason, level=level)


# Why a credential ended -> the message its holder gets (others are told elsewhere: a takeover
# by its own event, a dispute or a holder's own request by the page they are on).
_ENDED_MESSAGES = {
    CredentialReason.DEVICE_CHANGED: "credential_removed",
    CredentialReason.REISSUED: "credential_superseded",
    CredentialReason.ID_CARD_REPORTED_LOST: "card_reported_lost",
}


def message_on_credential_ended(session: Session, ended: CredentialEnded) -> None:
    """The holder hears that their credential ended, when the reason is one they must learn of
    from a message: a sign-in on another phone, a re-issue, or a lost-card report."""
    kind = _ENDED_MESSAGES.get(ended.reason)
    citizen_id = _citizen_id(session, ended.openid) if kind else None
    if kind and citizen_id is not None:
        enqueue_notification(session, citizen_id, kind, {})


def message_on_credential_issued(session: Session, issued: CredentialIssued) -> None:
    """The new holder is told their credential is ready."""
    citizen_id = _citizen_id(session, issued.openid)
    if citizen_id is not None:
        enqueue_notification(session, citizen_id, "credential_issued")


def message_on_takeover(session: Session, takeover: CredentialTakenOver) -> None:
    """The previous holder learns what happened, when, on which phone, and how to undo it."""
    notify_credential_taken_over(
        session,
        takeover.previous_openid,
        takeover_id=takeover.takeover_id,
        device_model=takeover.device_model,
        occurred_at=takeover.occurred_at,
    )


def message_on_verification(session: Session, verified: MerchantVerified) -> None:
    """Citizens who opted in hear of each verification, with the merchant's name."""
    if verified.citizen_opted_in:
        enqueue_notification(
            session, verified.citizen_id, "verified_by_merchant", {"thing1": verified.merchant_name}
        )


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def message_on_bill_paid(session: Session, paid: BillPaid) -> None:
    """The payer is told the bill is paid: the item and the amount."""
    data = {"thing1": paid.item_name, "amount3": _yuan(paid.amount_fen)}
    enqueue_notification(session, paid.citizen_id, "bill_paid", data)


def message_on_bill_refunded(session: Session, refunded: BillRefunded) -> None:
    """The payer is told a refund reached them."""
    data = {"thing1": refunded.item_name, "amount3": _yuan(refunded.refund_fen)}
    enqueue_notification(session, refunded.citizen_id, "bill_refunded", data)


def subscribe(bus: EventBus) -> None:
    """Subscribe the WeChat adapter to the app's domain events."""
    bus.subscribe(AccountErased, unlink_follower_on_erasure)
    bus.subscribe(CredentialEnded, card_on_credential_ended)
    bus.subscribe(CredentialEnded, message_on_credential_ended)
    bus.subscribe(CredentialIssued, message_on_credential_issued)
    bus.subscribe(CredentialTakenOver, message_on_takeover)
    bus.subscribe(MerchantVerified, message_on_verification)
    bus.subscribe(BillPaid, message_on_bill_paid)
    bus.subscribe(BillRefunded, message_on_bill_refunded)
