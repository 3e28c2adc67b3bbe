"""The local WeChat emulator: a WSGI app plus helpers to serve it on loopback and to push events.

Development and tests only; :mod:`bot.config` refuses an emulator API base in production.
"""

from bot.wechat.emulator.sender import WebhookSender, event_xml
from bot.wechat.emulator.server import Emulator
from bot.wechat.emulator.serving import RunningEmulator, serve

__all__ = ["Emulator", "RunningEmulator", "WebhookSender", "event_xml", "serve"]
