"""The WeChat card pack (卡包): the ``cardExt`` that ``wx.addCard`` needs for the citizen's pass.

Invariants: only the bound device of an active credential gets it; the card code is the
credential's opaque random handle, never the ID number; when the card pack is switched off the
answer is 404 ``card_pack_disabled`` and the mini-program pass page is the only pass.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIBlueprint

from bot.credentials.errors import DeviceNotBound, NoActiveCredential
from bot.credentials.service import active_credential
from bot.crypto import same
from bot.extensions import database
from bot.wechat.app import wechat_api, wechat_config
from bot.wechat.cards import card_ext_for
from bot.wechat.errors import CardPackDisabled, WeChatError
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import PRESENTATION_ERRORS, WECHAT_ERRORS, Out

log = logging.getLogger(__name__)
card_pack = APIBlueprint("card_pack", __name__, tag="Card pack", url_prefix="/api/v1")


class CardOut(Out):
    """What ``wx.addCard`` needs: the card class and the signed ``cardExt``."""

    card_id: str
    card_ext: str


def card_payload(openid: str, code: str | None) -> dict[str, str]:
    """``{card_id, card_ext}`` for ``wx.addCard``; raises when the card pack is off or down."""
    if not code or not wechat_config().card_enabled:
        raise CardPackDisabled()
    ext = card_ext_for(wechat_api(), openid=openid, code=code)
    return {"card_id": ext.card_id, "card_ext": ext.card_ext}


def card_payload_or_none(openid: str, code: str | None) -> dict[str, str] | None:
    """:func:`card_payload`, or None when it cannot be had now (the pass works without it)."""
    if not code:
        return None
    try:
        return card_payload(openid, code)
    except WeChatError as exc:
        log.warning("card ext unavailable after issuance: %s", exc.code)
        return None


@card_pack.post("/credentials/current/card")
@card_pack.auth_required(citizen_auth)
@card_pack.output(CardOut, status_code=201)
@card_pack.doc(
    summary="The cardExt to add the pass to the WeChat card pack (bound device only)",
    responses={
        **PRESENTATION_ERRORS,
        404: "card_pack_disabled, or no_credential: no active credential",
        **WECHAT_ERRORS,
    },
)
def current_card() -> tuple[dict[str, Any], int]:
    """Sign a fresh ``cardExt`` for the active credential's card code."""
    principal = current_citizen()
    with database().transaction() as session:
        credential = active_credential(session, principal.openid)
        if credential is None:
            raise NoActiveCredential()
        if not same(credential.device_id, principal.device_id):
            raise DeviceNotBound()
        code = credential.card_code
    return card_payload(principal.openid, code), 201
