"""CORS: browser front ends on the allowed origins, and nobody else."""

from __future__ import annotations

import pytest

from src.config import ConfigurationError, load_config
from tests.conftest import assert_problem, make_app

ALLOWED = "https://registrar.example.edu"
EXPOSED = {
    "etag", "location", "link", "x-total-count", "retry-after", "x-request-id",
    "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
}  # fmt: skip


@pytest.fixture
def cors_client(app, database_url):
    cors_app = make_app(database_url, CORS_ORIGINS=[ALLOWED, "http://localhost:3000"])
    return cors_app.test_client(api_key=app.config["TEST_API_KEY"])


def test_an_allowed_origin_gets_the_cors_headers(cors_client):
    response = cors_client.get("/courses", headers={"Origin": ALLOWED})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers["Vary"]
    exposed = {
        h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert exposed == EXPOSED


def test_another_origin_gets_none(cors_client):
    response = cors_client.get("/courses", headers={"Origin": "https://evil.example.com"})

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


def test_a_preflight_answers_without_a_key(app, database_url):
    client = make_app(database_url, CORS_ORIGINS=[ALLOWED]).test_client(api_key=None)

    response = client.options(
        "/courses/1",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type, If-Match",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type", "if-match"} <= allowed


def test_error_responses_carry_the_headers_too(app, database_url):
    client = make_app(database_url, CORS_ORIGINS=[ALLOWED]).test_client(api_key=None)

    response = client.get("/courses", headers={"Origin": ALLOWED})

    assert_problem(response, 401, "unauthorized")
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_no_origins_by_default(client):
    response = client.get("/courses", headers={"Origin": ALLOWED})

    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_origins_are_read_from_the_environment():
    assert load_config({"CORS_ORIGINS": " https://a.example.edu, http://localhost:3000/ "})[
        "CORS_ORIGINS"
    ] == ["https://a.example.edu", "http://localhost:3000"]
    assert load_config({})["CORS_ORIGINS"] == []


@pytest.mark.parametrize("value", ["*", "https://*.example.edu", "example.edu", "ftp://x.edu"])
def test_wildcards_and_non_origins_are_refused(value):
    with pytest.raises(ConfigurationError, match="CORS_ORIGINS"):
        load_config({"CORS_ORIGINS": value})
