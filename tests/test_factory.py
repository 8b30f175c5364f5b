"""The application factory and its configuration."""

from __future__ import annotations

import pytest

from src import create_app
from src.config import (
    DEFAULT_SQLITE_PATH,
    ConfigurationError,
    database_url,
    load_config,
    normalize_database_url,
)


def test_config_overrides_the_environment(database_url):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})

    assert app.testing
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url


def test_without_config_the_app_is_not_testing(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")

    assert not create_app().testing


def test_default_database_is_the_embedded_sqlite_file():
    assert database_url({}) == f"sqlite:///{DEFAULT_SQLITE_PATH}"
    assert DEFAULT_SQLITE_PATH.parent.is_dir()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/reg", "postgresql+psycopg2://u:p@db:5432/reg"),
        ("postgresql://u@db/reg", "postgresql+psycopg2://u@db/reg"),
        ("postgresql+psycopg2://u@db/reg", "postgresql+psycopg2://u@db/reg"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_urls_select_the_shipped_driver(given, expected):
    assert normalize_database_url(given) == expected
    assert database_url({"DATABASE_URL": given}) == expected


def test_production_refuses_to_start_without_database_url():
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        load_config({"APP_ENV": "production", "REDIS_URL": "redis://cache:6379/0"})


def test_production_refuses_in_memory_rate_limits():
    with pytest.raises(ConfigurationError, match="REDIS_URL"):
        load_config({"APP_ENV": "production", "DATABASE_URL": "postgres://db/reg"})


def test_production_refuses_to_sign_cursors_with_a_made_up_key():
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_config(
            {
                "APP_ENV": "production",
                "DATABASE_URL": "postgres://db/reg",
                "REDIS_URL": "redis://c/0",
            }
        )
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_config({"SECRET_KEY": "short"})


def test_production_starts_with_its_services_configured():
    config = load_config(
        {
            "APP_ENV": "production",
            "DATABASE_URL": "postgres://db/reg",
            "REDIS_URL": "redis://c/0",
            "SECRET_KEY": "k" * 32,
        }
    )

    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg2://db/reg"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://c/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_STATEMENT_TIMEOUT", "soon"),
        ("DATABASE_POOL_SIZE", "0"),
        ("PROXY_FIX_X_FOR", "-1"),
    ],
)
def test_bad_numbers_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        load_config({name: value})


@pytest.mark.parametrize("value", ["100/sec", "fast", "10 per", "-1/second"])
def test_a_bad_rate_limit_is_refused_at_start_up(value):
    with pytest.raises(ConfigurationError, match="RATE_LIMIT"):
        load_config({"RATE_LIMIT": value})


@pytest.mark.parametrize("value", ["", "100/second", "20/second;1000/minute", "5 per minute"])
def test_good_rate_limits_are_kept(value):
    assert load_config({"RATE_LIMIT": value})["RATE_LIMIT"] == (value or "100/second")


def test_unknown_app_env_is_refused():
    with pytest.raises(ConfigurationError, match="APP_ENV"):
        load_config({"APP_ENV": "prod"})


def test_health(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "pass"}


def test_openapi_document_and_docs_page(client):
    document = client.get("/openapi.json")

    assert document.status_code == 200
    spec = document.get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/students", "/students/{student_id}", "/courses", "/courses/{course_id}"} <= set(
        spec["paths"]
    )
    student_id = spec["paths"]["/students/{student_id}"]["parameters"][0]
    assert student_id["schema"] == {
        "type": "integer",
        "format": "int32",
        "minimum": 1,
        "maximum": 2**31 - 1,
    }
    not_found = spec["paths"]["/students/{student_id}"]["get"]["responses"]["404"]
    assert list(not_found["content"]) == ["application/problem+json"]
    assert "student-not-found" in not_found["description"]
    post = spec["paths"]["/students/{student_id}/courses"]["post"]["responses"]
    assert {"201", "400", "404", "409", "413", "415", "422"} <= set(post)
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("month", ["0", "13", "8.5", "August"])
def test_the_school_year_starts_in_a_month(month):
    with pytest.raises(ConfigurationError, match="ONEROSTER_SCHOOL_YEAR_START_MONTH"):
        load_config({"ONEROSTER_SCHOOL_YEAR_START_MONTH": month})


def test_the_school_year_start_month_is_read():
    assert (
        load_config({"ONEROSTER_SCHOOL_YEAR_START_MONTH": "9"})["ONEROSTER_SCHOOL_YEAR_START_MONTH"]
        == 9
    )
