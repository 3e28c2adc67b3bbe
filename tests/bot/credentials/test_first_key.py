"""The JWKS is published from the first start: a verifier can pin the key before any credential.

The first signing key is made by ``flask db upgrade`` and, for a database built otherwise, by
the first JWKS fetch; either way the key a verifier pins is the one that signs the first token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import func, select

from bot.credentials.tokens import mint_presentation
from bot.extensions import database, store
from storage.models.credential import Credential
from storage.models.signing_key import SigningKey
from tests.registry_factories import add_record, issue, settings_of


def _mint(app: Any) -> str:
    with database(app).transaction() as session:
        return mint_presentation(
            session,
            store(app),
            settings_of(app),
            openid="o-test-citizen",
            device_id="device-1",
        ).token


def test_fresh_app_publishes_a_key_before_any_issuance(app: Any, client: Any, db: Any) -> None:
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Credential)) == 0
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (jwk,) = response.get_json()["keys"]
    assert jwk["kid"] and jwk["alg"] == "ES256" and "d" not in jwk
    assert client.get("/.well-known/jwks.json").get_json()["keys"] == [jwk]  # made once
    # The pinned key is the one that signs the first presentation.
    issue(app, add_record(app))
    token = _mint(app)
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], issuer="wangzheng")
    assert claims["lvl"] == "light"


def test_db_upgrade_makes_the_first_signing_key(make_app: Any, tmp_path: Path) -> None:
    application = make_app(database_url=f"sqlite:///{tmp_path / 'migrated.sqlite3'}")  # empty
    runner = application.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    (kid,) = runner.invoke(args=["keys", "list"]).output.split()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0  # idempotent: still one
    with database(application).transaction() as session:
        assert session.scalars(select(SigningKey.kid)).all() == [kid]
    keys = application.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    assert [key["kid"] for key in keys] == [kid]
