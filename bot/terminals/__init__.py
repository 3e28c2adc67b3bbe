"""Trusted terminals and the upgraded (colour) credential they issue.

A terminal is an offline kiosk at a service site that reads the ID card chip. The citizen scans
its session QR in the mini-program, sets an 8-digit password, and swipes the card; the server
checks the chip data against the registry and issues an upgraded credential bound to the
citizen's device. See ``docs/terminals.md``.

Modules: ``registry`` (terminals and their sealed keys), ``signing`` (the HMAC request rule),
``sessions`` (open, claim, poll), ``passwords`` (the 8-digit password, argon2id, lockout),
``chip`` (chip data checks), ``issue`` (the upgraded issuance), ``cli`` (``flask terminals``).
This package never imports ``bot.wechat``.
"""
