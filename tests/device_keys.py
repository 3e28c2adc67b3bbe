"""Sessions the fixtures open directly, as a sign-in that proved the device's key would.

The install's key pair itself (``TestDevice``) lives in ``tests.kit.device``, shared with the
benchmarks.
"""

from __future__ import annotations

from typing import Any

from tests.kit.device import TestDevice


def proven_session(session: Any, *, openid: str, device_id: str, **kwargs: Any) -> Any:
    """Open a session directly (no WeChat round trip), as a sign-in that proved the device's
    key would: the key is registered for the device and the session carries it. The proof
    itself is tested over HTTP (``tests/handlers/test_device_keys.py``)."""
    from bot.devices.keys import bind_key, registered_key
    from bot.devices.sessions import ensure_citizen, open_session

    citizen = ensure_citizen(session, openid, kwargs.get("unionid"))
    known = registered_key(session, citizen.id, device_id)
    key = bind_key(session, citizen.id, device_id, FIXTURE_DEVICE_KEY, known)
    kwargs.setdefault("unionid", None)
    return open_session(session, openid=openid, device_id=device_id, device_key_id=key.id, **kwargs)


# The device key the fixtures register for every device they sign in directly.
FIXTURE_DEVICE_KEY = TestDevice("fixture-device").public_key_der
