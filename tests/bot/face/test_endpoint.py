"""``POST /api/v1/liveness/challenges`` and the ``face_model`` readiness check."""

from __future__ import annotations

import json
from typing import Any

from bot.devices.sessions import open_session
from bot.extensions import settings


def _bearer(app: Any, db: Any) -> dict[str, str]:
    with db.transaction() as session:
        tokens = open_session(
            session,
            openid="o-face-test",
            unionid=None,
            device_id="device-1",
        )
    return {"Authorization": f"Bearer {tokens.access_token}"}


def test_challenge_requires_a_session(client: Any) -> None:
    response = client.post("/api/v1/liveness/challenges")
    assert response.status_code == 401


def test_challenge_is_issued_and_stored(app: Any, client: Any, db: Any, store: Any) -> None:
    response = client.post("/api/v1/liveness/challenges", headers=_bearer(app, db))
    assert response.status_code == 201
    body = response.get_json()
    assert body["frames"] == len(body["steps"]) + 1 == 3
    assert body["expires_in"] == 60
    assert set(body["steps"]) == {"left", "right"}
    stored = json.loads(store.get(f"face:challenge:{body['challenge_id']}"))
    assert stored["steps"] == body["steps"]
    assert stored["device_id"] == "device-1" and isinstance(stored["citizen_id"], int)
    assert body["expires_at"] == int(stored["issued_at"]) + 60


def test_readiness_reports_the_pack_without_loading_it(client: Any) -> None:
    response = client.get("/readyz")
    face = response.get_json()["checks"]["face_model"]
    assert face["ok"] is True
    assert face["pack"] == "yunet-sface"
    assert 0 < face["threshold"] < 1
    assert "Apache-2.0" in face["licence"]
    assert isinstance(face["loaded"], bool)


def test_load_on_start_loads_once_and_readiness_says_so(make_app: Any) -> None:
    from bot.face import warm_up
    from bot.face.service import engine_loaded

    application = make_app(face_load_on_start=True)
    assert warm_up(application) is True
    assert engine_loaded(settings(application)) is not None
    face = application.test_client().get("/readyz").get_json()["checks"]["face_model"]
    assert face["loaded"] is True
