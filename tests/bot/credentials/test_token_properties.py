"""Property tests of presentation-token parsing (hypothesis): any input is a stable reason.

Whatever a scanner sends, :func:`decode_presentation` either returns verified claims or raises
:class:`PresentationRejected` with a known reason: never another exception (a 500 at verify).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.credentials.errors import PresentationRejected
from bot.credentials.tokens import decode_presentation
from bot.extensions import database
from bot.extensions import settings as app_settings

REASONS = {"malformed", "bad_signature", "unknown_key", "expired"}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES256", "HS256", "none", "RS256", "", "es256"])
        | st.text(max_size=8),
        "kid": st.text(max_size=70) | st.integers(),
        "typ": st.text(max_size=5),
        "crit": st.lists(st.text(max_size=5), max_size=2),
    },
)


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


jwt_like = st.builds(
    lambda header, payload, signature: f"{_segment(header)}.{_segment(payload)}.{signature}",
    headers,
    json_values,
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=90
    ),
)
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _only_rejections(app: Any, token: str) -> None:
    with app.app_context(), database().transaction() as session:
        try:
            decode_presentation(session, app_settings(), token)
        except PresentationRejected as rejected:
            assert rejected.reason in REASONS, rejected.reason
            return
    raise AssertionError(f"accepted a forged token: {token!r}")


@given(token=st.text(max_size=200))
@SETTINGS
def test_any_text_is_rejected_with_a_reason(app: Any, token: str) -> None:
    _only_rejections(app, token)


@given(token=jwt_like)
@SETTINGS
def test_any_jwt_shaped_forgery_is_rejected_with_a_reason(app: Any, token: str) -> None:
    _only_rejections(app, token)
