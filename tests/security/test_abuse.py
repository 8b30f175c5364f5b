"""Mass assignment, oversized bodies, rate limits, key secrecy and response headers."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, select, text

from src.database import db
from src.models import ApiKey, Student
from tests.conftest import in_a_fresh_window, make_app, new_key
from tests.security.conftest import client_with


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": "A", "last_name": "B", "email": "x@example.edu", "id": 999},
        {
            "first_name": "A",
            "last_name": "B",
            "email": "x@example.edu",
            "created_at": "2000-01-01T00:00:00Z",
        },
        {"first_name": "A", "last_name": "B", "email": "x@example.edu", "role": "admin"},
        {"first_name": "A", "last_name": "B", "email": "x@example.edu", "student_id": 1},
    ],
)
def test_mass_assignment_on_create_is_422(client, body):
    response = client.post("/students", json=body)

    assert response.status_code == 422
    assert db.session.scalar(select(Student.id).where(Student.email == "x@example.edu")) is None


@pytest.mark.parametrize(
    "changes",
    [{"id": 999}, {"updated_at": "2000-01-01T00:00:00Z"}, {"role": "admin"}, {"api_key": "x"}],
)
def test_mass_assignment_on_update_is_422_and_changes_nothing(client, world, changes):
    before = client.get(f"/students/{world.student_a}").get_json()

    response = client.patch(f"/students/{world.student_a}", json={"last_name": "Z", **changes})

    assert response.status_code == 422
    assert client.get(f"/students/{world.student_a}").get_json() == before


def test_enrolling_someone_else_through_the_body_is_422(app, world):
    client = client_with(app, world.keys["student_a"])
    body = {"course_id": world.course_d, "student_id": world.student_b}

    response = client.post(f"/students/{world.student_a}/courses", json=body)

    assert response.status_code == 422
    assert (
        client_with(app, world.keys["admin"]).get(f"/students/{world.student_b}/courses").get_json()
        == []
    )


def test_body_over_one_mebibyte_is_413(client):
    response = client.post(
        "/courses", data="{" + " " * (1024 * 1024) + "}", content_type="application/json"
    )

    assert response.status_code == 413
    assert response.get_json()["type"].endswith("/request-entity-too-large")


def _limited_app(database_url, limit, **config):
    return make_app(database_url, RATELIMIT_ENABLED=True, RATE_LIMIT=limit, **config)


def test_rate_limit_per_key_answers_429_with_retry_after(app, database_url):
    limited = _limited_app(database_url, "3/minute")
    first, second = app.config["TEST_API_KEY"], new_key(app, "reader")
    in_a_fresh_window(60)

    statuses = [client_with(limited, first).get("/courses").status_code for _ in range(4)]
    other = client_with(limited, second).get("/courses")

    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200  # counted per key
    response = client_with(limited, first).get("/courses")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/too-many-requests")
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_rate_limit_without_a_key_counts_per_address(database_url):
    limited = _limited_app(database_url, "2/minute")
    in_a_fresh_window(60)
    anonymous = client_with(limited, None)

    statuses = [anonymous.get("/courses").status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
    assert anonymous.get("/health/live").status_code == 200  # health checks are exempt


def test_rate_limits_are_shared_through_redis(app, database_url, redis_url):
    in_a_fresh_window(60)
    workers = [
        _limited_app(database_url, "4/minute", RATELIMIT_STORAGE_URI=redis_url) for _ in range(2)
    ]
    key = new_key(app, "reader")

    statuses = [client_with(workers[n % 2], key).get("/courses").status_code for n in range(5)]

    assert statuses == [200, 200, 200, 200, 429]


def test_keys_never_appear_in_responses_or_logs(app, world, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    for _identity, key in world.keys.items():
        if key is None:
            continue
        client = client_with(app, key)
        for path in (
            "/courses",
            "/students",
            f"/students/{world.student_a}",
            "/nowhere",
            "/metrics",
        ):
            response = client.get(path)
            texts.append(response.get_data(as_text=True))
            texts.append(str(response.headers))

    everything = "\n".join(texts) + caplog.text
    for key in world.keys.values():
        if key is not None:
            assert key not in everything
            assert key.split("_", 2)[2] not in everything


def test_the_key_table_holds_no_plaintext_key(app, world):
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM api_keys")).all()
    stored = " ".join(str(value) for row in rows for value in row)

    for key in world.keys.values():
        if key is not None:
            assert key.split("_", 2)[2] not in stored


def test_last_used_at_is_recorded(app, world):
    client_with(app, world.keys["reader"]).get("/courses")

    with app.app_context():
        prefix = world.keys["reader"].split("_")[1]
        record = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        assert record.last_used_at is not None
        assert record.created_at <= record.last_used_at


@pytest.mark.parametrize("path", ["/courses", "/nowhere", "/health/ready", "/openapi.json"])
def test_every_response_has_protective_headers(client, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    for leak in ("Traceback", "Werkzeug", "SQLAlchemy", "psycopg2", "Python/"):
        assert leak not in body


def test_openapi_declares_the_bearer_scheme(client):
    spec = client.get("/openapi.json").get_json()

    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `reg_<prefix>_<secret>`.",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/health/live"]["get"]["security"] == []
    assert "401" in spec["paths"]["/students"]["get"]["responses"]
    assert "403" in spec["paths"]["/students"]["get"]["responses"]


def _key_lookups(app, client, requests):
    """Send ``requests`` (path, key); return the statuses and the key lookups sent."""
    with app.app_context():
        engine = db.engine
    lookups: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "FROM api_keys" in statement:
            lookups.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        statuses = [
            client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code
            for path, key in requests
        ]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return statuses, lookups


def test_a_bad_key_repeated_is_looked_up_once(database_url):
    app = make_app(database_url, RATELIMIT_ENABLED=True, RATE_LIMIT="2/minute")
    client = app.test_client(api_key=None)

    statuses, lookups = _key_lookups(app, client, [("/courses", "reg_deadbeef_x")] * 10)

    assert statuses == [401, 401] + [429] * 8
    assert len(lookups) == 1


def test_an_address_cannot_make_the_database_check_keys_without_bound(app, database_url):
    other = make_app(database_url)
    good = new_key(other)
    client = other.test_client(api_key=None)
    assert client.get("/courses", headers={"Authorization": f"Bearer {good}"}).status_code == 200

    bad = [("/courses", f"reg_{n:08x}_guess") for n in range(40)]
    statuses, lookups = _key_lookups(other, client, bad)

    assert set(statuses) == {401}
    assert len(lookups) <= 10
    # A key this process saw valid lately keeps working from that address.
    assert client.get("/courses", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_readiness_asks_the_database_at_most_once_a_second(app):
    client = app.test_client(api_key=None)
    with app.app_context():
        engine = db.engine
    queries: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "alembic_version" in statement:
            queries.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        statuses = {client.get("/health/ready").status_code for _ in range(25)}
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert statuses == {200}
    assert len(queries) <= 2


def test_every_limited_answer_says_where_the_caller_stands(app, database_url):
    limited = _limited_app(database_url, "3/minute;100/second")
    in_a_fresh_window(60)
    client = client_with(limited, app.config["TEST_API_KEY"])

    answers = [client.get("/courses") for _ in range(4)]
    missing = client_with(limited, None).get("/students")
    public = client.get("/health/live")

    # The limit nearest to refusing: 3 a minute, then 2, 1 and 0 left.
    assert [a.headers["RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(0 < int(a.headers["RateLimit-Reset"]) <= 60 for a in answers)
    assert answers[3].status_code == 429
    assert answers[3].headers["Retry-After"] == answers[3].headers["RateLimit-Reset"]
    assert missing.status_code == 401
    assert missing.headers["RateLimit-Limit"] == "3"  # callers without a key count too
    assert "RateLimit-Limit" not in public.headers  # health checks are not limited
