"""The API client against the loopback emulator: shared token, one refresh, error mapping."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.extensions import store
from bot.wechat.app import wechat_api
from bot.wechat.client import WeChatApi
from bot.wechat.emulator.server import Emulator
from bot.wechat.errors import WeChatError, WeChatQuotaExceeded, WeChatUnavailable

TOKEN_PATH = "/cgi-bin/token"
TICKET_PATH = "/cgi-bin/ticket/getticket"


def _api(app: Any) -> WeChatApi:
    with app.app_context():
        return wechat_api()


def _ticket(api: WeChatApi) -> dict[str, Any]:
    return api.call(lambda client: client.jsapi.get_ticket("wx_card"), "getticket")


def test_token_is_fetched_once_and_shared(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    first = api.access_token()
    assert api.access_token() == first
    # A second client (another worker) reads the same store and fetches nothing.
    other = WeChatApi(api.config, store(wechat_app), api.data_key)
    assert other.access_token() == first
    assert len(emulator.calls_to(TOKEN_PATH)) == 1


def test_wechatpy_calls_reach_the_emulator_through_the_host_rewrite(
    wechat_app: Any,
    emulator: Emulator,
) -> None:
    body = _ticket(_api(wechat_app))
    assert body["ticket"].startswith("emuticket")
    (call,) = emulator.calls_to(TICKET_PATH)
    assert call.params["type"] == "wx_card"
    assert call.params["access_token"]


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_token_rejected_mid_flow_is_refreshed_once(
    wechat_app: Any,
    emulator: Emulator,
    errcode: int,
) -> None:
    api = _api(wechat_app)
    old = api.access_token()
    emulator.fail(TICKET_PATH, errcode)
    assert _ticket(api)["ticket"]
    assert len(emulator.calls_to(TOKEN_PATH)) == 2
    assert api.access_token() != old
    assert len(emulator.calls_to(TICKET_PATH)) == 2


def test_token_expiring_at_wechat_is_refreshed_once(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    api.access_token()
    emulator.expire_tokens()  # WeChat now answers 42001 for the cached token
    assert _ticket(api)["ticket"]
    assert len(emulator.calls_to(TOKEN_PATH)) == 2


def test_a_second_rejection_is_not_retried_forever(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    emulator.fail(TICKET_PATH, 40001, times=5)
    with pytest.raises(WeChatError) as caught:
        _ticket(api)
    assert caught.value.details["errcode"] == 40001
    assert len(emulator.calls_to(TICKET_PATH)) == 2
    assert len(emulator.calls_to(TOKEN_PATH)) == 2


def test_quota_exceeded_is_a_clear_error(wechat_app: Any, emulator: Emulator) -> None:
    emulator.fail(TICKET_PATH, 45009)
    with pytest.raises(WeChatQuotaExceeded) as caught:
        _ticket(_api(wechat_app))
    assert caught.value.code == "wechat_quota_exceeded"
    assert "quota" in caught.value.message


def test_busy_and_timeout_are_retryable_unavailable(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    emulator.fail(TICKET_PATH, -1)
    with pytest.raises(WeChatUnavailable):
        _ticket(api)
    emulator.delay(TICKET_PATH, 1.5)  # the client timeout is 1 s in tests
    with pytest.raises(WeChatUnavailable) as caught:
        _ticket(api)
    assert caught.value.status == 503


def test_token_endpoint_failure_is_surfaced(wechat_app: Any, emulator: Emulator) -> None:
    emulator.fail(TOKEN_PATH, 45009)
    with pytest.raises(WeChatQuotaExceeded):
        _api(wechat_app).access_token()


def _together(count: int, work: Any) -> list[Any]:
    """Run ``work`` on ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_ten_concurrent_callers_cause_one_token_fetch(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    shared_store = store(wechat_app)
    # Ten "workers": separate clients sharing only the store, as gunicorn workers do.
    workers = [WeChatApi(api.config, shared_store, api.data_key) for _ in range(10)]
    emulator.delay(TOKEN_PATH, 0.3)  # keep the fetch in flight while the others arrive
    counter = iter(range(10))
    tokens = _together(10, lambda: workers[next(counter)].access_token())
    assert len(set(tokens)) == 1
    assert len(emulator.calls_to(TOKEN_PATH)) == 1


def test_ten_concurrent_rejections_cause_one_refresh(wechat_app: Any, emulator: Emulator) -> None:
    api = _api(wechat_app)
    api.access_token()
    emulator.expire_tokens()
    results = _together(10, lambda: _ticket(api)["ticket"])
    assert all(results)
    assert len(emulator.calls_to(TOKEN_PATH)) == 2  # the first fetch, then exactly one refresh
