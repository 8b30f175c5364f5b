"""Every error is an RFC 9457 problem response; no input yields a 500."""

from __future__ import annotations

import re

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


# -- Requests that were quietly misread ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/students?last_name=King", "last_name"),
        ("/courses?title=Intro", "title"),
        ("/courses?search=cs", "search"),
        ("/students?sort=-email", "sort"),
        ("/events?foo=1", "foo"),
        ("/students/{student}?fields=email", "fields"),
        ("/students/{student}/courses?status=all&verbose=1", "verbose"),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it(client, make_student, path, unknown):
    student = make_student()

    response = client.get(path.format(student=student["id"]))

    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == [unknown]


def test_an_unknown_query_parameter_on_a_write_is_422_and_changes_nothing(client):
    response = client.post("/courses?dry_run=1", json={"code": "Q1", "title": "Q"})

    body = assert_problem(response, 422, "validation-error")
    assert list(body["errors"]) == ["dry_run"]
    assert client.get("/courses?code=Q1").get_json() == []


@pytest.mark.parametrize("query", ["limit=6&limit=abc", "limit=6&limit=6", "offset=1&offset=2"])
def test_a_parameter_given_twice_is_422(client, query):
    body = assert_problem(client.get(f"/courses?{query}"), 422, "validation-error")

    assert list(body["errors"]) == [query.split("=")[0]]


@pytest.mark.parametrize("segment", ["%D9%A1", "01", "%EF%BC%91", "1.0", "+1", "0"])
def test_an_id_in_other_digits_names_nothing(client, make_student, segment):
    make_student()  # student 1 exists

    assert_problem(client.get(f"/students/{segment}"), 404, "not-found")
    assert_problem(client.get(f"/students/{segment}/courses"), 404, "not-found")


@pytest.mark.parametrize("value", ["%D9%A3", "%EF%BC%93", "+3", "%203", "3_0", "03", "-1"])
def test_query_integers_are_ascii_digits(client, value):
    assert_problem(client.get(f"/courses?limit={value}"), 422, "validation-error")


# -- One error shape, one encoding ---------------------------------------------------------


@pytest.mark.parametrize("key", [True, False])
def test_options_tells_a_routes_methods_and_nothing_of_its_resources(app, make_student, key):
    student = make_student()
    client = app.test_client() if key else app.test_client(api_key=None)

    there, missing = client.options(f"/students/{student['id']}"), client.options("/students/99999")
    collection, unknown = client.options("/students"), client.options("/nope")

    for response in (there, missing, collection):
        assert response.status_code == 200
        assert response.get_data() == b""
        assert "Content-Type" not in response.headers
    assert there.headers["Allow"] == missing.headers["Allow"]
    assert set(there.headers["Allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}
    assert set(collection.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert_problem(unknown, 404, "not-found")


def test_a_204_has_no_body_type(client, make_course):
    course = make_course()

    response = client.delete(f"/courses/{course['id']}")

    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers


def test_single_reads_and_lists_send_the_same_utf8(client, make_student):
    student = make_student(first_name="Äda", email="ädä@example.edu")

    one = client.get(f"/students/{student['id']}").get_data()
    many = client.get("/students").get_data()

    assert "Äda".encode() in one
    assert b"\\u00c4" not in one
    assert "Äda".encode() in many


def test_timestamps_have_milliseconds_on_every_response(client, make_student, make_course):
    pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$"
    student, course = make_student(), make_course()
    enrolled = client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    shown = [
        student["created_at"],
        course["updated_at"],
        enrolled.get_json()["enrolled_at"],
        client.get(f"/students/{student['id']}").get_json()["updated_at"],
        client.get("/courses").get_json()[0]["created_at"],
        client.get("/events").get_json()["events"][0]["occurred_at"],
    ]

    assert all(re.match(pattern, value) for value in shown), shown


def test_werkzeugs_own_texts_never_reach_a_client(client):
    for response in (client.get("/nowhere"), client.put("/students")):
        body = response.get_json()
        assert "requested URL" not in body["detail"]
        assert "not allowed for the requested URL" not in body["detail"]
        assert body["title"] in {"Not found", "Method not allowed"}


def test_too_many_header_fields_are_a_431_problem(client):
    headers = {f"X-Extra-{n}": "x" for n in range(101)}

    assert_problem(client.get("/courses", headers=headers), 431, "request-header-fields-too-large")


def test_a_header_over_8_kib_is_a_431_problem(client):
    response = client.get("/courses", headers={"X-Long": "x" * 9000})

    assert_problem(response, 431, "request-header-fields-too-large")
