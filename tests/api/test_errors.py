"""Every error is an RFC 9457 problem response; no input yields a 500."""

from __future__ import annotations

import pytest

from src.error_handling import flatten_validation_messages
from tests.conftest import assert_problem


def test_unknown_route_is_404_problem(client):
    assert_problem(client.get("/nowhere"), 404, "not-found")


def test_wrong_method_is_405_with_allow(client):
    response = client.put("/students")

    assert_problem(response, 405, "method-not-allowed")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_body_is_415(client, content_type):
    response = client.post("/students", data="first_name=Ada", content_type=content_type)

    assert_problem(response, 415, "unsupported-media-type")


def test_missing_body_is_415(client):
    assert_problem(client.post("/courses"), 415, "unsupported-media-type")


@pytest.mark.parametrize(
    "data", ['{"first_name": ', "{'a': 1}", "", "  ", b"\xff\xfe", '{"first_name": "\\ud800"}']
)
def test_malformed_json_is_400(client, data):
    response = client.post("/students", data=data, content_type="application/json")

    assert_problem(response, 400, "malformed-json")


def test_body_over_one_mebibyte_is_413(client):
    body = '{"first_name": "' + "a" * (1024 * 1024) + '"}'

    response = client.post("/students", data=body, content_type="application/json")

    assert_problem(response, 413, "request-entity-too-large")


def test_unexpected_error_is_500_without_internals(app, client, monkeypatch):
    def explode(_student_id):
        raise RuntimeError("secret internal detail in SELECT students")

    monkeypatch.setattr("src.services.students.get_student", explode)

    response = client.get("/students/1")

    body = assert_problem(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    assert "secret" not in text
    assert "SELECT" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert body["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": ["a"], "last_name": {"b": 1}, "email": 5},
        {"first_name": 10**400, "last_name": 1e308, "email": True},
    ],
)
def test_wrong_json_types_are_422(client, body):
    response = client.post("/students", json=body)

    assert_problem(response, 422, "validation-error")


def test_flatten_validation_messages_keys_by_field():
    messages = {"json": {"email": ["Not valid."], "tags": {"0": ["Bad item."]}}}

    assert flatten_validation_messages(messages) == {
        "email": ["Not valid."],
        "tags.0": ["Bad item."],
    }
    assert flatten_validation_messages({"json": {"_schema": ["Invalid input type."]}}) == {
        "_schema": ["Invalid input type."]
    }
