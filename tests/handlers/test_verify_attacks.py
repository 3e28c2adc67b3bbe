"""Every verify reason code, each produced by the attack or event that causes it."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from bot.credentials.keys import verification_key
from bot.credentials.service import revoke_credential, revoke_for_device_change
from bot.vocab import CredentialReason
from storage.models.verification_audit import VerificationAudit
from tests.handlers.verify_helpers import (
    alg_none,
    enrolled,
    fetch_token,
    foreign_key_token,
    hs256_with_public_key,
    merchant_key,
    now,
    sign_with_our_key,
    split,
    tampered,
    verify,
)
from tests.registry_factories import issue


@pytest.fixture
def citizen(app: Any, login: Any) -> Any:
    return enrolled(app, login)


@pytest.fixture
def key(app: Any) -> str:
    return merchant_key(app)


def _invalid(client: Any, key: str, token: str, reason: str, **body: Any) -> None:
    status, answer = verify(client, key, token, **body)
    assert status == 200
    assert answer == {"result": "invalid", "reason": reason}  # nothing about the citizen


def test_valid_token_then_replayed(client: Any, citizen: Any, key: str) -> None:
    token = fetch_token(client, citizen.access_token)
    status, answer = verify(client, key, token)
    assert status == 200 and answer["result"] == "valid" and answer["level"] == "light"
    assert answer["claims"] == {} and len(answer["subject_pseudonym"]) == 32
    _invalid(client, key, token, "replayed")


def test_same_token_at_two_merchants_is_replayed(
    app: Any, client: Any, citizen: Any, key: str
) -> None:
    token = fetch_token(client, citizen.access_token)
    other = merchant_key(app, name="Courier", category="courier", scopes=["result"])
    assert verify(client, other, token)[1]["result"] == "valid"
    _invalid(client, key, token, "replayed")


def test_alg_none_is_bad_signature(client: Any, citizen: Any, key: str) -> None:
    _invalid(client, key, alg_none(fetch_token(client, citizen.access_token)), "bad_signature")


def test_hs256_keyed_with_our_public_key_is_bad_signature(
    db: Any, client: Any, citizen: Any, key: str
) -> None:
    token = fetch_token(client, citizen.access_token)
    kid = split(token)[0]["kid"]
    with db.transaction() as session:
        public = verification_key(session, kid)
    assert public is not None
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _invalid(client, key, hs256_with_public_key(token, pem), "bad_signature")
    # The genuine token was not consumed by the forgery.
    assert verify(client, key, token)[1]["result"] == "valid"


def test_tampered_payload_is_bad_signature(client: Any, citizen: Any, key: str) -> None:
    token = fetch_token(client, citizen.access_token)
    _invalid(client, key, tampered(token, lvl="upgraded"), "bad_signature")
    _invalid(client, key, tampered(token, exp=now() + 3600), "bad_signature")


def test_unknown_kid(client: Any, citizen: Any, key: str) -> None:
    _invalid(
        client, key, foreign_key_token(fetch_token(client, citizen.access_token)), "unknown_key"
    )


def test_expired_token(app: Any, client: Any, citizen: Any, key: str) -> None:
    _, claims, _ = split(fetch_token(client, citizen.access_token))
    stale = sign_with_our_key(app, {**claims, "iat": now() - 200, "exp": now() - 140})
    _invalid(client, key, stale, "expired")


def test_overlong_lifetime_and_future_iat_are_malformed(
    app: Any, client: Any, citizen: Any, key: str
) -> None:
    _, claims, _ = split(fetch_token(client, citizen.access_token))
    long_lived = sign_with_our_key(app, {**claims, "iat": now(), "exp": now() + 3600})
    _invalid(client, key, long_lived, "malformed")
    future = sign_with_our_key(app, {**claims, "iat": now() + 300, "exp": now() + 330})
    _invalid(client, key, future, "malformed")


@pytest.mark.parametrize("garbage", ["not-a-token", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..", "x" * 1000])
def test_garbage_is_malformed(client: Any, key: str, garbage: str) -> None:
    _invalid(client, key, garbage, "malformed")


def test_token_from_superseded_device(
    db: Any, client: Any, login: Any, citizen: Any, key: str
) -> None:
    old_device_token = fetch_token(client, citizen.access_token)
    still_old = fetch_token(client, citizen.access_token)
    login("o-test-citizen", "device-2")  # the citizen moves to a new phone
    _invalid(client, key, old_device_token, "superseded")  # even before the credential is revoked
    with db.transaction() as session:
        assert revoke_for_device_change(session, "o-test-citizen", "device-1") == 1
    _invalid(client, key, still_old, "superseded")


def test_token_of_a_reissued_credential_is_superseded(
    app: Any, client: Any, citizen: Any, key: str
) -> None:
    token = fetch_token(client, citizen.access_token)
    issue(app, citizen.subject_id)  # a second enrolment on the same device
    _invalid(client, key, token, "superseded")
    assert verify(client, key, fetch_token(client, citizen.access_token))[1]["result"] == "valid"


def test_revoked_credential(db: Any, client: Any, citizen: Any, key: str) -> None:
    token = fetch_token(client, citizen.access_token)
    with db.transaction() as session:
        revoke_credential(session, citizen.credential_id, CredentialReason.REPORTED_STOLEN)
    _invalid(client, key, token, "revoked")


def test_light_where_upgraded_required(client: Any, citizen: Any, key: str) -> None:
    _invalid(
        client,
        key,
        fetch_token(client, citizen.access_token),
        "level_too_low",
        required_level="upgraded",
    )
    _invalid(
        client,
        key,
        fetch_token(client, citizen.access_token),
        "level_too_low",
        scope="full_identity",
    )


def test_scope_not_granted(app: Any, client: Any, citizen: Any) -> None:
    narrow = merchant_key(
        app, name="Cafe", category="internet_cafe", scopes=["result", "age_over_18"]
    )
    token = fetch_token(client, citizen.access_token)
    _invalid(client, narrow, token, "scope_not_granted", scope="name_masked")
    _invalid(client, narrow, token, "scope_not_granted", scope="full_identity")
    # Refused before the signature check: the citizen's token is still usable.
    assert verify(client, narrow, token, scope="age_over_18")[1]["claims"] == {"age_over_18": True}


def test_every_attempt_is_audited_without_the_token(
    db: Any, client: Any, citizen: Any, key: str
) -> None:
    token = fetch_token(client, citizen.access_token)
    verify(client, key, token, scope="name_masked")
    verify(client, key, token)
    verify(client, key, alg_none(token))
    with db.transaction() as session:
        rows = list(session.scalars(select(VerificationAudit).order_by(VerificationAudit.id)))
    assert [(r.result, r.reason, r.disclosed) for r in rows] == [
        ("valid", None, "name_masked"),
        ("invalid", "replayed", ""),
        ("invalid", "bad_signature", ""),
    ]
    assert rows[0].credential_id == citizen.credential_id and rows[2].credential_id is None
    for row in rows:
        text = repr({c.name: getattr(row, c.name) for c in VerificationAudit.__table__.columns})
        for part in token.split("."):
            assert part not in text
        assert "127.0.0.1" not in text and len(row.client_ip_hash) == 64
