"""Health checks: liveness never touches the database; readiness compares migrations."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from src.database import db
from src.health import code_head
from src.observability import RequestIdFilter
from tests.conftest import alembic_config, make_app

HEALTH_JSON = "application/health+json"


def assert_health(response, status_code: int, status: str) -> dict:
    assert response.status_code == status_code, response.get_data(as_text=True)
    assert response.mimetype == HEALTH_JSON
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_live_is_pass_without_the_database(path):
    app = make_app("postgresql+psycopg2://nobody@127.0.0.1:1/nothing")

    assert_health(app.test_client().get(path), 200, "pass")


def test_ready_passes_at_head(client):
    body = assert_health(client.get("/health/ready"), 200, "pass")

    assert body["checks"]["database:migration"][0]["observedValue"] == code_head()
    response_time = body["checks"]["database:responseTime"][0]
    assert response_time["observedUnit"] == "ms"
    assert response_time["observedValue"] >= 0


def _migrated_app(url: str, revision: str):
    command.upgrade(alembic_config(url), revision)
    return make_app(url)


def _dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


def test_ready_warns_when_the_database_is_newer(empty_database_url):
    app = _migrated_app(empty_database_url, "head")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '29990101_future'"))
    engine.dispose()

    body = assert_health(app.test_client().get("/health/ready"), 200, "warn")

    assert "newer" in body["output"]
    _dispose(app)


def test_ready_fails_when_the_database_is_behind(empty_database_url):
    app = _migrated_app(empty_database_url, "20230901_baseline")

    body = assert_health(app.test_client().get("/health/ready"), 503, "fail")

    assert "behind" in body["output"]
    _dispose(app)


def test_ready_fails_without_a_schema(empty_database_url):
    app = make_app(empty_database_url)

    body = assert_health(app.test_client().get("/health/ready"), 503, "fail")

    assert "no schema" in body["output"]
    _dispose(app)


def test_ready_fails_when_the_database_is_unreachable_without_telling_why(caplog):
    app = make_app("postgresql+psycopg2://registrar_app@127.0.0.1:1/nothing")
    caplog.handler.addFilter(RequestIdFilter())  # as the JSON log handler does

    response = app.test_client().get("/health/ready")

    body = assert_health(response, 503, "fail")
    assert body["checks"]["database:connection"][0]["status"] == "fail"
    assert body["output"] == "database unreachable"
    # Public: no host, port, role or driver message; the log has them, with the request id.
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text
    assert "registrar_app" not in text
    assert "connection" not in body["output"]
    logged = [r for r in caplog.records if "readiness: database unreachable" in r.getMessage()]
    assert logged
    assert "127.0.0.1" in logged[0].getMessage()
    assert logged[0].request_id == response.headers["X-Request-ID"]
