"""Shared set-up for the verify API tests: a citizen with a credential, merchants, forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bot.credentials.keys import current_signing_key
from bot.extensions import database
from tests.registry_factories import add_merchant, add_record, issue, settings_of


@dataclass
class Citizen:
    """A signed-in citizen with a credential."""

    access_token: str
    credential_id: str
    subject_id: int


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enrolled(
    app: Any,
    login: Any,
    *,
    level: str = "light",
    openid: str = "o-test-citizen",
    device_id: str = "device-1",
    id_number: str | None = None,
    name: str = "张三明",
) -> Citizen:
    """Log in, register a record and issue a credential bound to this device."""
    tokens = login(openid, device_id)
    kwargs: dict[str, Any] = {"id_number": id_number} if id_number else {}
    subject = add_record(app, name=name, **kwargs)
    issued = issue(app, subject, openid=openid, device_id=device_id, level=level)
    return Citizen(tokens.access_token, issued.credential_id, subject)


def fetch_token(client: Any, access_token: str) -> str:
    """A presentation token, fetched the way the pass page does."""
    response = client.post(
        "/api/v1/credentials/current/presentations",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["token"])


def merchant_key(app: Any, **kwargs: Any) -> str:
    """A new merchant's API key."""
    return add_merchant(app, **kwargs).api_key


def verify(client: Any, key: str, token: str, **body: Any) -> tuple[int, dict[str, Any]]:
    """Call the verify API."""
    response = client.post(
        "/api/v1/verify", json={"token": token, **body}, headers={"Authorization": f"Bearer {key}"}
    )
    return response.status_code, response.get_json()


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, payload and signature part of a JWT (unverified)."""
    header, payload, signature = token.split(".")

    def decode(part: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        )
        return decoded

    return decode(header), decode(payload), signature


def sign_with_our_key(app: Any, claims: dict[str, Any]) -> str:
    """A token signed by the service's current key with arbitrary claims (as an insider could)."""
    with database(app).transaction() as session:
        key = current_signing_key(session, settings_of(app))
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def hs256_with_public_key(token: str, public_pem: bytes) -> str:
    """The classic key-confusion attack: HS256 keyed with the ES256 public key."""
    header, payload, _ = split(token)
    header["alg"] = "HS256"
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)


def alg_none(token: str) -> str:
    """An unsigned token claiming ``alg: none``."""
    header, payload, _ = split(token)
    header["alg"] = "none"
    return b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode()) + "."


def tampered(token: str, **changes: Any) -> str:
    """The token with payload claims changed and the original signature kept."""
    header, _, signature = token.split(".")
    claims = split(token)[1]
    claims.update(changes)
    return header + "." + b64(json.dumps(claims).encode()) + "." + signature


def foreign_key_token(token: str, kid: str = "kUnknown1") -> str:
    """Same claims, signed by a key we never issued."""
    _, claims, _ = split(token)
    return jwt.encode(
        claims, ec.generate_private_key(ec.SECP256R1()), "ES256", headers={"kid": kid}
    )


def now() -> int:
    """Epoch seconds."""
    return int(time.time())
