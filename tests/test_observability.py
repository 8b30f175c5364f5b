"""Request ids, structured request logs without personal data, and /metrics."""

from __future__ import annotations

import json
import logging

import pytest

from src.observability import configure_logging

EMAIL = "ada.private@example.edu"


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "registrar.request"]


def test_a_valid_request_id_is_echoed(client):
    response = client.get("/students", headers={"X-Request-ID": "edge-7f3a:01"})

    assert response.headers["X-Request-ID"] == "edge-7f3a:01"


@pytest.mark.parametrize("given", ["", "x" * 129, "two words", "a\tb", "<script>", "é"])
def test_an_unsafe_request_id_is_replaced(client, given):
    response = client.get("/students", headers={"X-Request-ID": given})

    returned = response.headers["X-Request-ID"]
    assert returned != given
    assert len(returned) == 32
    assert returned.isalnum()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/nowhere", None, 404),
        ("post", "/students", {"first_name": ""}, 422),
        ("put", "/students", None, 405),
    ],
)
def test_errors_carry_the_request_id(client, method, path, body, status):
    response = getattr(client, method)(path, json=body, headers={"X-Request-ID": "req-1"})

    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "req-1"


def test_one_log_line_per_request_with_route_status_and_duration(client, make_student, caplog):
    student = make_student()
    caplog.clear()
    caplog.set_level(logging.INFO, logger="registrar.request")

    client.get(f"/students/{student['id']}", headers={"X-Request-ID": "trace-42"})

    [record] = request_records(caplog)
    assert record.method == "GET"
    assert record.route == "/students/<id:student_id>"
    assert record.path == f"/students/{student['id']}"
    assert record.status == 200
    assert record.duration_ms >= 0
    assert record.request_id == "trace-42"


def test_no_names_or_emails_in_logs(client, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    body = {"first_name": "Adelaide", "last_name": "Privateperson", "email": EMAIL}

    client.post("/students", json=body)
    client.post("/students", json=body)  # 409
    client.get(f"/students?email={EMAIL}")
    client.get(f"/students/{EMAIL}")  # unknown route holding an email

    def explode(_):
        raise RuntimeError("boom")

    monkeypatch.setattr("src.services.students.get_student", explode)
    client.get("/students/1")

    logged = caplog.text + "".join(json.dumps(vars(r), default=str) for r in caplog.records)
    for secret in ("Adelaide", "Privateperson", "ada.private"):
        assert secret not in logged
    assert len(request_records(caplog)) == 5


def test_configure_logging_writes_json_lines(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO")
        logging.getLogger("registrar.request").info(
            "request", extra={"request_id": "r1", "status": 200}
        )
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "request"
    assert record["level"] == "INFO"
    assert record["request_id"] == "r1"
    assert record["status"] == 200


def test_metrics_count_requests_by_route_and_status(client, make_student):
    make_student()
    client.get("/students")
    client.get("/students/999")

    response = client.get("/metrics")

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'flask_http_request_total{method="GET",status="200"}' in text
    assert 'url_rule="/students/<id:student_id>"' in text
    assert "flask_http_request_duration_seconds_bucket" in text
    assert "registrar_db_pool_connections_in_use" in text
    assert "registrar_db_pool_connections_idle" in text


def test_without_redis_the_storage_gauge_says_limits_count_where_configured(client):
    # Without REDIS_URL limits count in each process's memory, as configured: 1, as
    # docs/api.md says; 0 is kept for a process that lost the Redis it was given.
    client.get("/courses")  # the gauge is set as each request ends
    text = client.get("/metrics").get_data(as_text=True)

    assert "registrar_rate_limit_storage_up 1.0" in text
