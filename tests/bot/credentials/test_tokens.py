"""Signing keys, the JWKS and presentation tokens: size, contents, binding, rotation."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jwt
import pytest
import segno

from bot.credentials.errors import DeviceNotBound, NoActiveCredential, PresentationRejected
from bot.credentials.keys import clear_key_cache, current_signing_key, public_jwks, rotate_keys
from bot.credentials.tokens import (
    decode_presentation,
    handle_key,
    mint_presentation,
    peek_handle,
    resolve_handle,
)
from bot.extensions import database, store
from storage.models.base import utcnow
from tests.registry_factories import ADULT_ID, add_record, issue, settings_of


def _mint(app: Any, device_id: str = "device-1") -> str:
    with database(app).transaction() as session:
        return mint_presentation(
            session,
            store(app),
            settings_of(app),
            openid="o-test-citizen",
            device_id=device_id,
        ).token


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def test_token_is_small_fits_a_version_10_qr_and_holds_no_personal_data(app: Any) -> None:
    issued = issue(app, add_record(app))
    token = _mint(app)
    assert len(token.encode()) <= 300
    # Byte mode at level M: version 10 holds only 213 bytes, less than any ES256 JWT with these
    # claims can be; ours needs version 12 (287 bytes). See docs/verifying.md.
    assert int(segno.make(token, error="m", micro=False).version) <= 12
    claims = _payload(token)
    assert set(claims) == {"iss", "jti", "iat", "exp", "cid", "lvl"}
    assert claims["exp"] - claims["iat"] == 60
    assert claims["cid"] != issued.credential_id
    for secret in (ADULT_ID, "张三明", issued.credential_id, "o-test-citizen", "device-1"):
        assert secret not in token and secret not in json.dumps(claims, ensure_ascii=False)
    assert jwt.get_unverified_header(token) == {
        "alg": "ES256",
        "kid": jwt.get_unverified_header(token)["kid"],
    }


def test_each_presentation_has_its_own_handle_and_jti(app: Any, store: Any) -> None:
    issued = issue(app, add_record(app))
    first, second = _payload(_mint(app)), _payload(_mint(app))
    assert first["cid"] != second["cid"] and first["jti"] != second["jti"]
    store = store
    assert resolve_handle(store, first["cid"]) == (issued.credential_id, "device-1")


def test_jwks_verifies_the_token(app: Any, client: Any) -> None:
    issue(app, add_record(app))
    token = _mint(app)
    body = client.get("/.well-known/jwks.json").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in body["keys"] if k["kid"] == kid]
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}  # public only, no "d"
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["ES256"], issuer="wangzheng")
    assert claims["lvl"] == "light"


def test_only_the_bound_device_gets_tokens(app: Any) -> None:
    issue(app, add_record(app))
    with pytest.raises(DeviceNotBound):
        _mint(app, device_id="device-2")


def test_no_credential_no_token(app: Any) -> None:
    with pytest.raises(NoActiveCredential):
        _mint(app)


def test_key_created_once_and_rotation_keeps_old_key_verifying(app: Any, db: Any) -> None:
    settings = settings_of(app)
    issue(app, add_record(app))
    with db.transaction() as session:
        first = current_signing_key(session, settings).kid
        assert current_signing_key(session, settings).kid == first
    old_token = _mint(app)
    with db.transaction() as session:
        new_kid = rotate_keys(session, settings)
    assert new_kid != first
    assert jwt.get_unverified_header(_mint(app))["kid"] == new_kid
    with db.transaction() as session:
        kids = [k["kid"] for k in public_jwks(session)["keys"]]
        assert kids == [new_kid, first]
        assert decode_presentation(session, settings, old_token).level == "light"
        # Past the grace period the old key is gone from the JWKS and refused.
        later = utcnow() + dt.timedelta(seconds=settings.signing_key_grace_s + 1)
        clear_key_cache()
        assert [k["kid"] for k in public_jwks(session, later)["keys"]] == [new_kid]
        with pytest.raises(PresentationRejected) as caught:
            decode_presentation(session, settings, old_token, later)
        assert caught.value.reason == "unknown_key"


def test_keys_rotate_cli(runner: Any, client: Any) -> None:
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    kid = result.output.split()[-1]
    assert [k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]] == [kid]
    assert runner.invoke(args=["keys", "list"]).output.split() == [kid]


def test_peeked_handle_is_the_tokens_and_resolves_like_the_store(app: Any, store: Any) -> None:
    """The verifier may prefetch a token's handle unverified; it must be the token's own ``cid``
    and resolve exactly as the store does, and garbage peeks as nothing."""
    issue(app, add_record(app))
    token = _mint(app)
    cid = _payload(token)["cid"]
    assert peek_handle(token) == cid
    prefetched = {handle_key(cid): store.get(handle_key(cid))}
    assert resolve_handle(store, cid, prefetched) == resolve_handle(store, cid)
    assert resolve_handle(store, cid, {handle_key(cid): None}) is None  # a lapsed handle
    header, _, signature = token.split(".")
    for garbage in ("", "a.b", "a.b.c", f"{header}.!!!.{signature}", "x" * 2000, None, 7):
        assert peek_handle(garbage) is None
