"""The /students resource."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import Student
from tests.conftest import assert_problem

NEW = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.edu"}


def student_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Student))


def test_create_returns_201_location_and_representation(client):
    response = client.post("/students", json=NEW)

    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == ["id", "first_name", "last_name", "email", "created_at", "updated_at"]
    assert body["first_name"] == "Grace"
    assert body["email"] == "grace@example.edu"
    assert response.headers["Location"].endswith(f"/students/{body['id']}")
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() is not None
    assert created.utcoffset().total_seconds() == 0
    row = db.session.get(Student, body["id"])
    assert row.last_name == "Hopper"


def test_get_returns_the_student(client, make_student):
    student = make_student()

    response = client.get(f"/students/{student['id']}")

    assert response.status_code == 200
    assert response.get_json() == student


@pytest.mark.parametrize("email", ["grace@example.edu", "GRACE@Example.EDU"])
def test_duplicate_email_in_any_case_is_409(client, email):
    client.post("/students", json=NEW)

    response = client.post("/students", json={**NEW, "email": email})

    assert_problem(response, 409, "email-taken")
    assert student_count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"last_name": "H", "email": "g@example.edu"}, "first_name"),
        ({**NEW, "first_name": ""}, "first_name"),
        ({**NEW, "first_name": "   "}, "first_name"),
        ({**NEW, "first_name": "x" * 101}, "first_name"),
        ({**NEW, "last_name": "a\x00b"}, "last_name"),
        ({**NEW, "last_name": None}, "last_name"),
        ({**NEW, "last_name": 7}, "last_name"),
        ({**NEW, "email": "not-an-email"}, "email"),
        ({**NEW, "email": "a" * 250 + "@example.edu"}, "email"),
        ({**NEW, "nickname": "Amazing Grace"}, "nickname"),
        ({**NEW, "id": 99}, "id"),
        ({**NEW, "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_invalid_bodies_are_422_and_create_nothing(client, body, field):
    response = client.post("/students", json=body)

    problem = assert_problem(response, 422, "validation-error")
    assert field in problem["errors"]
    assert student_count() == 0


@pytest.mark.parametrize("body", [[NEW], "text", 42, None])
def test_a_body_that_is_not_an_object_is_422(client, body):
    response = client.post("/students", data=json.dumps(body), content_type="application/json")

    assert_problem(response, 422, "validation-error")


def test_patch_changes_only_given_fields(client, make_student):
    student = make_student(first_name="Ada")

    response = client.patch(f"/students/{student['id']}", json={"last_name": "Byron"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["last_name"] == "Byron"
    assert body["first_name"] == "Ada"
    assert body["email"] == student["email"]
    assert body["updated_at"] >= student["updated_at"]
    db.session.expire_all()
    assert db.session.get(Student, student["id"]).last_name == "Byron"


def test_patch_to_another_students_email_is_409(client, make_student):
    first = make_student(email="first@example.edu")
    second = make_student()

    response = client.patch(f"/students/{second['id']}", json={"email": "FIRST@example.edu"})

    assert_problem(response, 409, "email-taken")
    db.session.expire_all()
    assert db.session.get(Student, second["id"]).email == second["email"]
    assert first


@pytest.mark.parametrize(
    "body", [{"id": 5}, {"email": None}, {"first_name": ""}, {"updated_at": "x"}, {"x": 1}]
)
def test_invalid_patch_is_422_and_changes_nothing(client, make_student, body):
    student = make_student()

    response = client.patch(f"/students/{student['id']}", json=body)

    assert_problem(response, 422, "validation-error")
    assert client.get(f"/students/{student['id']}").get_json() == student


def test_delete_is_204_then_404(client, make_student):
    student = make_student()

    assert client.delete(f"/students/{student['id']}").status_code == 204
    assert_problem(client.get(f"/students/{student['id']}"), 404, "student-not-found")
    assert_problem(client.delete(f"/students/{student['id']}"), 404, "student-not-found")
    assert student_count() == 0


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_student_is_404(client, method):
    response = getattr(client, method)("/students/12345", json={})

    assert_problem(response, 404, "student-not-found")


@pytest.mark.parametrize("student_id", ["0", "-1", "abc", "2147483648", "9" * 40, "1.5"])
def test_ids_outside_the_integer_range_are_404(client, student_id):
    response = client.get(f"/students/{student_id}")

    assert_problem(response, 404, "not-found")


def test_list_is_ordered_and_paginated(client, make_student):
    ids = [make_student()["id"] for _ in range(5)]

    response = client.get("/students?limit=2&offset=2")

    assert response.status_code == 200
    assert [s["id"] for s in response.get_json()] == ids[2:4]
    assert response.headers["X-Total-Count"] == "5"
    link = response.headers["Link"]
    assert 'limit=2&offset=0>; rel="first"' in link
    assert 'limit=2&offset=0>; rel="prev"' in link
    assert 'limit=2&offset=4>; rel="next"' in link
    assert 'limit=2&offset=4>; rel="last"' in link


def test_list_defaults_and_empty(client):
    response = client.get("/students")

    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert 'rel="next"' not in response.headers["Link"]


def test_last_page_has_no_next(client, make_student):
    for _ in range(3):
        make_student()

    response = client.get("/students?limit=2&offset=2")

    assert len(response.get_json()) == 1
    assert response.headers["X-Total-Count"] == "3"
    assert 'rel="next"' not in response.headers["Link"]


def test_offset_past_the_end_counts_the_list(client, make_student):
    make_student()

    response = client.get("/students?offset=10")

    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=99999999999", "limit=1.5"]
)
def test_pagination_out_of_range_is_422(client, query):
    response = client.get(f"/students?{query}")

    problem = assert_problem(response, 422, "validation-error")
    assert set(problem["errors"]) <= {"limit", "offset"}


def test_filter_by_email_ignores_case(client, make_student):
    make_student(email="one@example.edu")
    wanted = make_student(email="Two@Example.edu")

    response = client.get("/students?email=two@EXAMPLE.EDU")

    assert response.get_json() == [wanted]
    assert response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    ("first", "second"),
    [("Ädä@example.edu", "äDÄ@example.edu"), ("straße@example.edu", "STRASSE@example.edu")],
)
def test_emails_equal_without_regard_to_case_in_any_script_are_one(client, first, second):
    body = {"first_name": "A", "last_name": "B"}
    assert client.post("/students", json={**body, "email": first}).status_code == 201

    response = client.post("/students", json={**body, "email": second})

    assert_problem(response, 409, "email-taken")
    found = client.get("/students", query_string={"email": second.upper()}).get_json()
    assert [s["email"] for s in found] == [first]


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",  # a zero-width space alone
        "A\u202eB",  # a right-to-left override
        "Ada\u2028Byron",  # a line separator
        "\u00ad",  # a soft hyphen alone
        " \u200d ",  # a joiner alone: nothing visible
    ],
)
def test_names_refuse_control_and_format_characters(client, name):
    body = {"first_name": name, "last_name": "L", "email": "ada@example.edu"}

    problem = assert_problem(client.post("/students", json=body), 422, "validation-error")

    assert list(problem["errors"]) == ["first_name"]
    assert client.get("/students").get_json() == []


def test_names_are_stored_in_nfc_without_surrounding_whitespace(client):
    body = {"first_name": " Ada ", "last_name": "Zoe\u0308", "email": "ada@example.edu"}

    created = client.post("/students", json=body).get_json()

    assert created["first_name"] == "Ada"
    assert created["last_name"] == "Zo\u00eb"  # NFC
    joined = {"first_name": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "last_name": "L",
              "email": "fa@example.edu"}  # fmt: skip
    assert client.post("/students", json=joined).status_code == 201  # scripts keep their joiners
    flag = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    england = {"first_name": f"Ada {flag}", "last_name": "L", "email": "flag@example.edu"}
    assert client.post("/students", json=england).status_code == 201  # and emoji their tags


def test_emails_are_normalised_before_they_are_checked(client):
    decomposed = {"first_name": "E", "last_name": "L", "email": "e\u0301@example.edu"}

    created = client.post("/students", json=decomposed)

    assert created.status_code == 201, created.get_json()
    assert created.get_json()["email"] == "\u00e9@example.edu"
    again = {"first_name": "E", "last_name": "L", "email": "\u00e9@example.edu"}
    assert_problem(client.post("/students", json=again), 409, "email-taken")


def test_a_local_part_over_64_characters_is_refused(client):
    long = {"first_name": "E", "last_name": "L", "email": "a" * 65 + "@example.edu"}
    just = {"first_name": "E", "last_name": "L", "email": "a" * 64 + "@example.edu"}

    assert_problem(client.post("/students", json=long), 422, "validation-error")
    assert client.post("/students", json=just).status_code == 201
