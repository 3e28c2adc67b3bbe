"""WeChat's access token and ``wx_card`` ticket are sealed in the short-lived store.

Whoever reads Redis (or the SQL store's table) must not get a token that calls WeChat as us.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from bot.extensions import store
from bot.wechat.app import wechat_api
from bot.wechat.client import WeChatApi
from bot.wechat.emulator.server import Emulator

TOKEN_PATH = "/cgi-bin/token"


def _api(app: Any) -> WeChatApi:
    with app.app_context():
        return wechat_api()


def _raw(store: Any, api: WeChatApi, name: str) -> str:
    value = store.get(f"wechat:{api.config.app_id}:{name}")
    assert value is not None
    return str(value)


def test_raw_store_values_do_not_contain_the_token_or_ticket(
    wechat_app: Any,
    emulator: Emulator,
) -> None:
    shared_store = store(wechat_app)
    api = _api(wechat_app)
    token = api.access_token()
    ticket = api.card_api_ticket()
    assert token and ticket
    for name, secret in (("access_token", token), ("wx_card_ticket", ticket)):
        raw = _raw(shared_store, api, name)
        assert secret not in raw
        assert secret.encode() not in base64.urlsafe_b64decode(raw)  # not merely encoded
    # A second worker (same store, same data key) reads them back without fetching again.
    other = WeChatApi(api.config, shared_store, api.data_key)
    assert (other.access_token(), other.card_api_ticket()) == (token, ticket)
    assert len(emulator.calls_to(TOKEN_PATH)) == 1


def test_a_sealed_token_is_bound_to_its_name(wechat_app: Any, emulator: Emulator) -> None:
    """The ticket's ciphertext copied under the token's key is refused, and a token fetched."""
    shared_store = store(wechat_app)
    api = _api(wechat_app)
    api.card_api_ticket()  # fetches the access token, then the ticket
    key = f"wechat:{api.config.app_id}:access_token"
    shared_store.set(key, _raw(shared_store, api, "wx_card_ticket"), 600)
    fresh = api.access_token()
    assert not fresh.startswith("emuticket")
    assert len(emulator.calls_to(TOKEN_PATH)) == 2


def test_plaintext_or_foreign_values_are_refetched(wechat_app: Any, emulator: Emulator) -> None:
    """A value stored in clear (an older release) or sealed under another key is not trusted."""
    shared_store = store(wechat_app)
    api = _api(wechat_app)
    key = f"wechat:{api.config.app_id}:access_token"
    shared_store.set(key, "planted-plaintext-token", 600)
    assert api.access_token() != "planted-plaintext-token"
    assert len(emulator.calls_to(TOKEN_PATH)) == 1
    foreign = WeChatApi(api.config, shared_store, os.urandom(32))
    foreign.access_token()  # cannot unseal ours: fetches, and stores under its own key
    assert len(emulator.calls_to(TOKEN_PATH)) == 2
    api.access_token()  # cannot unseal the foreign value: fetches again
    assert len(emulator.calls_to(TOKEN_PATH)) == 3
