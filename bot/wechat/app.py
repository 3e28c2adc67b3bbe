"""Per-app WeChat singletons: the resolved configuration, the API client and the outbox.

Invariants: one :class:`WeChatApi` per app (created on first use, so nothing connects at import
or in gunicorn's master); one :class:`OutboxDispatcher` per app, built here with everything it
needs and attached to the app's database; the adapter subscribes to the app's domain events
here (:mod:`bot.wechat.subscribers`). The development emulator is mounted only when the
configuration is emulated *and* the environment is development, never in production.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from flask import Flask, current_app
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bot.config import PREFIX, Settings
from bot.extensions import database, event_bus, settings, store
from bot.observability import add_scrape_collector
from bot.wechat import subscribers
from bot.wechat.cards import card_unavailable_deliverer
from bot.wechat.client import WeChatApi
from bot.wechat.config import EMULATOR_MOUNT, TEMPLATE_SETTINGS, WeChatConfig, resolve
from bot.wechat.emulator.pay import PayEmulator
from bot.wechat.emulator.server import Emulator
from bot.wechat.notify import notification_deliverer
from bot.wechat.official import follower_info_deliverer
from bot.wechat.outbox import FOLLOWER_INFO, OutboxCollector, OutboxDispatcher
from bot.wechat.pay import WeChatPayGateway
from bot.wechat.payconfig import PAY_EMULATOR_MOUNT, resolve_pay

log = logging.getLogger(__name__)
_CONFIG = "wangzheng.wechat.config"
_API = "wangzheng.wechat.api"
_OA_API = "wangzheng.wechat.oa_api"
_OUTBOX = "wangzheng.wechat.outbox"


def init_app(app: Flask, app_settings: Settings) -> None:
    """Resolve the configuration, build the outbox, subscribe to domain events, and mount the
    emulator in development. Call it after ``bot.extensions.init_extensions``.
    """
    config = resolve(app_settings)
    app.extensions[_CONFIG] = config
    for kind, setting in TEMPLATE_SETTINGS.items():
        if not config.templates.get(kind):
            log.info("wechat message %s is not sent: %s%s is unset", kind, PREFIX, setting.upper())
    dispatcher = OutboxDispatcher(
        database(app),
        config,
        lambda: wechat_api(app),
        {
            "card_unavailable": card_unavailable_deliverer(lambda: wechat_oa_api(app)),
            "subscribe_message": notification_deliverer(lambda: wechat_oa_api(app)),
            FOLLOWER_INFO: follower_info_deliverer(lambda: wechat_oa_api(app)),
        },
    )
    dispatcher.attach()
    app.extensions[_OUTBOX] = dispatcher
    add_scrape_collector(app, OutboxCollector(database(app)))
    subscribers.subscribe(event_bus(app))
    if config.emulated and app_settings.env == "development":
        emulator = Emulator(
            config.app_id,
            config.app_secret,
            known_card_ids=(config.card_id, config.card_id_upgraded),
            other_apps={config.oa_app_id: config.oa_app_secret},
            card_owner=config.oa_app_id,
            soter_key_dir=Path(app.instance_path) / "emulator-soter-keys",
        )
        app.extensions["wangzheng.wechat.emulator"] = emulator
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, {EMULATOR_MOUNT: emulator}
        )


def wechat_pay_gateway(app: Flask, app_settings: Settings) -> WeChatPayGateway:
    """The WeChat Pay v3 gateway of ``app`` (its SDK is built on first use); in development
    with the emulated merchant, the Pay emulator is mounted under ``/_emulator/wechatpay``."""
    config = resolve_pay(app_settings)
    if config.emulated and app_settings.env == "development":
        emulator = PayEmulator(
            config.mch_id,
            config.app_id,
            config.apiv3_key,
            config.cert_serial_no,
            config.public_key_pem(),
        )
        app.extensions["wangzheng.wechat.pay_emulator"] = emulator
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, {PAY_EMULATOR_MOUNT: emulator}
        )
    return WeChatPayGateway(config)


def wechat_config(app: Flask | None = None) -> WeChatConfig:
    """The app's effective WeChat configuration."""
    return (app or current_app).extensions[_CONFIG]  # type: ignore[no-any-return]


def outbox_dispatcher(app: Flask | None = None) -> OutboxDispatcher:
    """The app's outbox dispatcher (``flask wechat flush-outbox``, tests)."""
    return (app or current_app).extensions[_OUTBOX]  # type: ignore[no-any-return]


def wechat_api(app: Flask | None = None) -> WeChatApi:
    """The app's WeChat API client (created on first use)."""
    target = app or current_app
    api = target.extensions.get(_API)
    if api is None:
        api = target.extensions.setdefault(
            _API, WeChatApi(wechat_config(target), store(target), settings(target).data_keyring)
        )
    return api  # type: ignore[no-any-return]


def wechat_oa_api(app: Flask | None = None) -> WeChatApi:
    """The official account's API client: :func:`wechat_api` itself when one app id serves
    both, else a client with the official account's own app id, secret and access token."""
    target = app or current_app
    config = wechat_config(target)
    if config.single_account:
        return wechat_api(target)
    api = target.extensions.get(_OA_API)
    if api is None:
        oa_config = replace(config, app_id=config.oa_app_id, app_secret=config.oa_app_secret)
        api = target.extensions.setdefault(
            _OA_API, WeChatApi(oa_config, store(target), settings(target).data_keyring)
        )
    return api  # type: ignore[no-any-return]
