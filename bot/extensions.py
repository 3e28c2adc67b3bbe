"""Per-app singletons (database, event bus, short-lived store, readiness checks) and accessors.

Invariants: each app owns exactly one :class:`~storage.db.Database`, one
:class:`~bot.events.EventBus` attached to that database's sessions, and one store; services get
them as arguments, handlers fetch them here. Nothing here reads ``flask.request``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from bot.clock import Clock
from bot.config import Settings
from bot.events import EventBus
from storage.bounded import DatabaseTimeouts
from storage.db import APP_EXTENSION, Database
from storage.ephemeral import EphemeralStore, make_store

ReadinessCheck = Callable[[], dict[str, Any]]


def init_extensions(app: Flask, settings: Settings) -> None:
    """Create the clock, database and store for ``app``."""
    timeouts = DatabaseTimeouts(
        connect_timeout_s=settings.database_connect_timeout_s,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        pool_timeout_s=settings.database_pool_timeout_s,
    )
    database = Database(settings.database_url, timeouts)
    bus = EventBus()
    bus.attach(database.session_factory)
    app_clock = Clock()
    app.extensions["wangzheng.settings"] = settings
    app.extensions["wangzheng.clock"] = app_clock
    app.extensions[APP_EXTENSION] = database
    app.extensions["wangzheng.events"] = bus
    app.extensions["wangzheng.store"] = make_store(
        settings.redis_url,
        database,
        timeout_s=settings.redis_socket_timeout_ms / 1000,
        clock=app_clock,
    )
    app.extensions["wangzheng.readiness"] = {}


def settings(app: Flask | None = None) -> Settings:
    """The app's settings."""
    return (app or current_app).extensions["wangzheng.settings"]  # type: ignore[no-any-return]


def clock(app: Flask | None = None) -> Clock:
    """The app's clock (rate limits, the SQL store's TTLs)."""
    return (app or current_app).extensions["wangzheng.clock"]  # type: ignore[no-any-return]


def event_bus(app: Flask | None = None) -> EventBus:
    """The app's domain-event bus (adapters subscribe to it when the app is built)."""
    return (app or current_app).extensions["wangzheng.events"]  # type: ignore[no-any-return]


def database(app: Flask | None = None) -> Database:
    """The app's database."""
    return (app or current_app).extensions[APP_EXTENSION]  # type: ignore[no-any-return]


def store(app: Flask | None = None) -> EphemeralStore:
    """The app's short-lived store."""
    return (app or current_app).extensions["wangzheng.store"]  # type: ignore[no-any-return]


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """Register a check for ``/readyz``; it returns a dict and raises when not ready."""
    app.extensions["wangzheng.readiness"][name] = check


def readiness_checks(app: Flask | None = None) -> dict[str, ReadinessCheck]:
    """Every registered readiness check."""
    return dict((app or current_app).extensions["wangzheng.readiness"])
