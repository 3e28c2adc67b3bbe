"""The pass page, its QR endpoint, and the development simulator."""

from __future__ import annotations

import io
import shutil
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from bot.demo.service import DEMO_PEOPLE
from bot.extensions import settings
from tests.bot.face.imaging import FACE_ROOT, blank
from tests.kit.photos import CACHE
from tests.registry_factories import add_record, issue


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Test apps here use the shared, already built face pack."""
    return {**app_config, "face_model_root": FACE_ROOT}


@pytest.fixture
def dev_app(make_app: Any) -> Any:
    """The app in development, the only environment that mounts the simulator."""
    return make_app(env="development", wechat_outbox_dispatch="sync")


@pytest.fixture
def dev_client(dev_app: Any) -> Any:
    """A test client of :func:`dev_app`."""
    return dev_app.test_client()


def _auth(tokens: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token}"}


def test_pass_page_is_static_and_locked_down(client: Any) -> None:
    response = client.get("/pass")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert b"/static/pages-assets/pass/pass.js" in response.data
    assert b'name="viewport"' in response.data
    script = client.get("/static/pages-assets/pass/pass.js")
    assert script.status_code == 200 and b"setInterval" in script.data
    script.close()


@pytest.mark.parametrize(("level", "coloured"), [("light", False), ("upgraded", True)])
def test_qr_is_server_rendered_svg_in_the_level_colour(
    app: Any, client: Any, login: Any, level: str, coloured: bool
) -> None:
    tokens = login("o-pass", "phone-1")
    issue(app, add_record(app), openid="o-pass", device_id="phone-1", level=level)
    response = client.post("/api/v1/credentials/current/qr", headers=_auth(tokens))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["svg"].startswith("<svg")
    # segno writes black as its default (no stroke attribute); the upgraded pass is blue.
    assert ('stroke="#0b4f8a"' in body["svg"]) is coloured
    assert body["level"] == level and body["refresh_in"] == 30
    assert "token" not in body


def test_qr_only_for_the_bound_device(app: Any, client: Any, login: Any) -> None:
    issue(app, add_record(app), openid="o-pass", device_id="phone-1")
    # The same citizen signs in on a second phone without re-enrolling.
    other = login("o-pass", "phone-2")
    response = client.post("/api/v1/credentials/current/qr", headers=_auth(other))
    assert response.status_code in (403, 404)
    assert response.json["error"]["code"] in ("device_not_bound", "no_active_credential")
    anonymous = client.post("/api/v1/credentials/current/qr")
    assert anonymous.status_code == 401


def test_simulator_serves_in_development(dev_client: Any) -> None:
    page = dev_client.get("/")
    assert page.status_code == 200 and b"simulator.js" in page.data
    people = dev_client.get("/simulator/api/people").json
    assert [p["user"] for p in people["people"]] == [p.user for p in DEMO_PEOPLE]
    for hostile in ("..%2F..%2Fetc%2Fpasswd", "obama.jpg", "x.png"):
        assert dev_client.get(f"/simulator/samples/{hostile}").status_code == 404


def test_testing_environment_serves_no_simulator_nor_self_registration(
    app: Any, client: Any, photos: dict[str, bytes]
) -> None:
    assert settings(app).env == "testing"
    assert client.get("/").status_code == 404
    assert client.get("/simulator/api/people").status_code == 404
    body, content_type = _form("测试员", photos["obama3"])
    posted = client.post("/simulator/api/self-registrations", data=body, content_type=content_type)
    assert posted.status_code == 404
    assert "/simulator/api/self-registrations" not in client.get("/openapi.json").json["paths"]
    # Nor the WeChat emulator (it answers any path under its mount when mounted).
    assert "wangzheng.wechat.emulator" not in app.extensions
    assert client.get("/_emulator/wechat/cgi-bin/token").status_code == 404


@pytest.mark.parametrize("env", ["production", None], ids=["production", "unset"])
def test_simulator_is_absent_in_production(
    make_app: Any,
    production_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
) -> None:
    monkeypatch.delenv("WANGZHENG_ENV")  # unset means production
    app = make_app(**{**production_config, "env": env})
    assert settings(app).is_production
    client = app.test_client()
    assert client.get("/").status_code == 404
    assert client.get("/simulator/api/people").status_code == 404
    assert "/simulator/api/people" not in client.get("/openapi.json").json["paths"]


@pytest.mark.face
def test_dev_prepare_seeds_the_demo_registry_idempotently(
    dev_app: Any, dev_client: Any, photos: dict[str, bytes]
) -> None:
    client, runner = dev_client, dev_app.test_cli_runner()
    demo = settings(dev_app).instance_path / "demo"
    shutil.copytree(CACHE / "face_recognition", demo / "face_recognition")
    first = runner.invoke(args=["dev", "prepare"])
    assert first.exit_code == 0, first.output
    assert "created=3" in first.output
    second = runner.invoke(args=["dev", "prepare"])
    assert "unchanged=3" in second.output
    people = client.get("/simulator/api/people").json["people"]
    # The first demo person answers with real frames of one head turn; Obama's photos, from
    # different occasions, no longer answer a challenge (docs/face.md).
    assert people[0]["samples_available"] is True and set(people[0]["frames"]) == {"left", "right"}
    assert [p["frames"] for p in people[1:]] == [{}, {}]
    sample = client.get("/simulator/samples/obama2.jpg")
    assert sample.status_code == 200 and sample.data == photos["obama2"]
    sample.close()
    turned = client.get("/simulator/samples/" + people[0]["frames"]["left"][1])
    assert turned.status_code == 200 and turned.data.startswith(b"\xff\xd8")
    turned.close()


def _form(name: str, photo: bytes) -> tuple[bytes, str]:
    fields = MultiDict(
        [("name", name), ("photo", FileStorage(io.BytesIO(photo), "me.jpg", "photo"))]
    )
    boundary, body = encode_multipart(fields)
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.face
def test_self_registration_takes_a_real_face_and_refuses_a_blank(
    dev_client: Any, photos: dict[str, bytes]
) -> None:
    client = dev_client
    body, content_type = _form("测试员", photos["obama3"])
    created = client.post("/simulator/api/self-registrations", data=body, content_type=content_type)
    assert created.status_code == 201, created.json
    assert len(created.json["id_number"]) == 18
    body, content_type = _form("测试员", blank())
    refused = client.post("/simulator/api/self-registrations", data=body, content_type=content_type)
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "face_not_found")
