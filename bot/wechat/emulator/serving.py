"""Serve an :class:`Emulator` over real HTTP on a free 127.0.0.1 port, in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.wechat.emulator.server import Emulator

WSGIApp = Callable[[dict[str, Any], Any], Any]


class _QuietHandler(WSGIRequestHandler):
    """No access log: WeChat URLs carry the app secret and login codes in their query."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Do not log."""


@dataclass
class RunningEmulator:
    """A served emulator; ``base_url`` is what ``WANGZHENG_WECHAT_API_BASE`` should be."""

    emulator: Any  # the Emulator, or any WSGI app served with serve()
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(emulator: Emulator | WSGIApp) -> RunningEmulator:
    """Start ``emulator`` (or any WSGI app) on a free loopback port, threaded."""
    server = make_server("127.0.0.1", 0, emulator, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="wechat-emulator", daemon=True
    )
    thread.start()
    return RunningEmulator(emulator, server, thread)
