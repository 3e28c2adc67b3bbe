"""The emulator's card pack (卡券): member-card classes, the codes users hold, and the
``wx_card`` api_tickets that sign a cardExt.

Invariants, as on WeChat:
- A card class belongs to the app (the official account) whose access token created it, or to
  the ``owner`` named for the classes known up front. Only that app's token may act on the
  class's codes: another app's gets 40073 (invalid card id); an unknown code gets 40056.
- A cardExt is accepted by :meth:`CardPack.add_with_ext` only when its signature is the SHA-1
  over the sorted values with an api_ticket issued to the owning app.
- Thread-safe: every change happens under one lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OK = {"errcode": 0, "errmsg": "ok"}
INVALID_CODE = 40056
INVALID_CARD_ID = 40073
BAD_DATA = 47001


def wechat_sha1(*parts: str) -> str:
    """WeChat's card signature: SHA-1 over the sorted, concatenated values (written here again,
    not imported, so the emulator checks our signer instead of agreeing with it by construction)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's


@dataclass
class Card:
    """A user's card code as the emulator knows it."""

    card_id: str
    openid: str
    status: str = "NORMAL"  # NORMAL | UNAVAILABLE
    activated: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


class CardPack:
    """Card classes with their owners, the codes users hold, and the issued tickets."""

    def __init__(self, known_card_ids: Iterable[str], owner: str) -> None:
        self.classes: dict[str, dict[str, Any]] = {cid: {} for cid in known_card_ids if cid}
        self.owners: dict[str, str] = dict.fromkeys(self.classes, owner)
        self.cards: dict[str, Card] = {}
        self._tickets: dict[str, str] = {}  # wx_card api_ticket -> app id
        self._lock = threading.Lock()

    def record_ticket(self, ticket: str, app_id: str) -> None:
        """Remember that ``ticket`` was issued to ``app_id``."""
        with self._lock:
            self._tickets[ticket] = app_id

    def create(self, app_id: str, card_id: str, card: dict[str, Any]) -> None:
        """A new class, owned by ``app_id``."""
        with self._lock:
            self.classes[card_id] = card
            self.owners[card_id] = app_id

    def add(self, openid: str, card_id: str, code: str) -> None:
        """What ``wx.addCard`` does on WeChat's side: the user now holds card ``code``."""
        with self._lock:
            self.cards[code] = Card(card_id=card_id, openid=openid)

    def add_with_ext(self, openid: str, card_id: str, card_ext: str) -> str:
        """``wx.addCard`` with our cardExt, checked as WeChat checks it (see the module); a named
        ``openid`` must be the one adding. Returns the code; ValueError when refused."""
        ext = json.loads(card_ext)
        values = [str(ext.get(k, "")) for k in ("code", "openid", "timestamp", "nonce_str")]
        with self._lock:
            owner = self.owners.get(card_id)
            tickets = [ticket for ticket, app in self._tickets.items() if app and app == owner]
        given = str(ext.get("signature", ""))
        if not any(hmac.compare_digest(wechat_sha1(t, card_id, *values), given) for t in tickets):
            raise ValueError("cardExt signature invalid for this card class")
        if ext.get("openid") and ext["openid"] != openid:
            raise ValueError("cardExt names another openid")
        self.add(openid, card_id, ext["code"])
        return str(ext["code"])

    def _code(self, app_id: str, body: dict[str, Any]) -> Card | int:
        """The card of ``body["code"]`` (of ``body["card_id"]`` when named), or the errcode."""
        card = self.cards.get(str(body.get("code", "")))
        wanted = body.get("card_id")
        if card is None or (wanted and wanted != card.card_id):
            return INVALID_CODE
        return card if self.owners.get(card.card_id) == app_id else INVALID_CARD_ID

    def unavailable(self, app_id: str, body: dict[str, Any]) -> dict[str, Any] | int:
        """``card/code/unavailable``."""
        with self._lock:
            card = self._code(app_id, body)
            if isinstance(card, int) or card.status != "NORMAL":
                return card if isinstance(card, int) else INVALID_CODE
            card.status = "UNAVAILABLE"
        return dict(OK)

    def decrypt(self, app_id: str, body: dict[str, Any]) -> dict[str, Any] | int:
        """``card/code/decrypt`` (the emulator's encrypt_code is the code in base64)."""
        try:
            code = base64.urlsafe_b64decode(str(body.get("encrypt_code", ""))).decode()
        except ValueError:
            return INVALID_CODE
        with self._lock:
            card = self._code(app_id, {"code": code})
        return card if isinstance(card, int) else {**OK, "code": code}

    def activate(self, app_id: str, body: dict[str, Any]) -> dict[str, Any] | int:
        """``card/membercard/activate``."""
        with self._lock:
            card = self._code(app_id, body)
            if isinstance(card, int) or "membership_number" not in body:
                return card if isinstance(card, int) else BAD_DATA
            card.activated = True
            card.fields.update(body)
        return dict(OK)

    def update_user(self, app_id: str, body: dict[str, Any]) -> dict[str, Any] | int:
        """``card/membercard/updateuser``."""
        with self._lock:
            card = self._code(app_id, body)
            if isinstance(card, int):
                return card
            card.fields.update(body)
        return {**OK, "result_bonus": 0, "result_balance": 0, "openid": card.openid}
