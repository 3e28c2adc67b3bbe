"""Operations endpoints and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import text

from bot.config import ConfigError


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_reports_each_check(client: Any, store: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    checks = response.json["checks"]
    assert checks["database"]["ok"] and checks["store"]["ok"]
    assert checks["database"]["backend"] in ("sqlite", "postgresql")
    assert checks["store"]["backend"] == store.backend


def test_readyz_fails_when_a_check_fails(client: Any, app: Any) -> None:
    from bot.extensions import add_readiness_check

    def broken() -> dict[str, Any]:
        raise ConnectionError("down")

    add_readiness_check(app, "broken", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "not_ready"
    assert response.json["checks"]["broken"] == {
        "ok": False,
        "error": "ConnectionError",
        "ms": response.json["checks"]["broken"]["ms"],
    }


def test_readyz_sees_a_broken_database(client: Any, db: Any, store: Any) -> None:
    db.engine.dispose()
    if store.backend == "sql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE ephemeral_entries"))
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["checks"]["store"]["ok"] is False


def test_metrics_count_requests_per_endpoint(client: Any) -> None:
    client.get("/healthz")
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert "wangzheng_http_requests_total" in body
    assert 'endpoint="ops.healthz"' in body
    assert "wangzheng_http_request_duration_seconds_bucket" in body


def test_request_id_is_generated_or_echoed(client: Any) -> None:
    generated = client.get("/healthz").headers["X-Request-Id"]
    assert len(generated) == 16
    echoed = client.get("/healthz", headers={"X-Request-Id": "abc-12345678"})
    assert echoed.headers["X-Request-Id"] == "abc-12345678"
    hostile = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert hostile.headers["X-Request-Id"] != "<script>alert(1)</script>"
    assert len(hostile.headers["X-Request-Id"]) == 16


def test_openapi_is_valid_and_lists_json_endpoints(client: Any, app: Any) -> None:
    spec = client.get("/openapi.json").json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/readyz" in spec["paths"] and "/healthz" in spec["paths"]
    documented = {p for p in spec["paths"]}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and "POST" in (rule.methods or set()):
            openapi_path = rule.rule.replace("<", "{").replace(">", "}")
            openapi_path = openapi_path.replace("{int:", "{").replace("{string:", "{")
            assert openapi_path in documented, rule.rule


METRICS_TOKEN = "metrics-" + "m" * 40


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        f"Bearer {METRICS_TOKEN[:-1]}",
        f"Bearer {METRICS_TOKEN}x",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
        "Bearer ",
    ],
)
def test_metrics_refuse_anything_but_the_token(make_app: Any, authorization: str | None) -> None:
    client = make_app(metrics_token=METRICS_TOKEN).test_client()
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["error"]["code"] == "unauthenticated"
    assert "wangzheng_http_requests_total" not in response.get_data(as_text=True)


def test_metrics_answer_the_token(make_app: Any) -> None:
    client = make_app(metrics_token=METRICS_TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert "wangzheng_http_requests_total" in response.get_data(as_text=True)


def test_production_serves_metrics_only_with_a_token(
    make_app: Any, production_config: dict[str, Any]
) -> None:
    open_client = make_app(**production_config).test_client()
    response = open_client.get("/metrics")
    assert response.status_code == 404
    assert "wangzheng_http_requests_total" not in response.get_data(as_text=True)
    guarded = make_app(**production_config, metrics_token=METRICS_TOKEN).test_client()
    assert guarded.get("/metrics").status_code == 401
    authorised = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert guarded.get("/metrics", headers=authorised).status_code == 200


def test_production_refuses_a_short_metrics_token(
    make_app: Any, production_config: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="WANGZHENG_METRICS_TOKEN"):
        make_app(**production_config, metrics_token="short")
