"""The WeChat card pack (卡包): the ``cardExt`` that ``wx.addCard`` needs for the citizen's pass.

Invariants: only the bound device of an active credential gets it; the card code is the
credential's opaque random handle, never the ID number; when the card pack is switched off the
answer is 404 ``card_pack_disabled`` and the mini-program pass page is the only pass. The rules
live in :mod:`bot.wechat.cards`; this module parses and renders.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from bot.extensions import database
from bot.wechat.app import wechat_config, wechat_oa_api
from bot.wechat.cards import CardExt, card_openid, current_card
from handlers.auth import citizen_auth, current_citizen
from handlers.schemas import PRESENTATION_ERRORS, WECHAT_ERRORS, Out

card_pack = APIBlueprint("card_pack", __name__, tag="Card pack", url_prefix="/api/v1")


class CardOut(Out):
    """What ``wx.addCard`` needs: the card class and the signed ``cardExt``."""

    card_id: str
    card_ext: str


def render_card(card: CardExt | None) -> dict[str, str] | None:
    """``{card_id, card_ext}`` for ``wx.addCard``, or None."""
    return None if card is None else {"card_id": card.card_id, "card_ext": card.card_ext}


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
def current_card_ext() -> tuple[dict[str, Any], int]:
    """Sign a fresh ``cardExt`` for the active credential's card code."""
    principal = current_citizen()
    card = current_card(
        database(),
        wechat_oa_api(),
        principal.openid,
        principal.device_id,
        named=card_openid(wechat_config(), principal.openid),
    )
    return {"card_id": card.card_id, "card_ext": card.card_ext}, 201
