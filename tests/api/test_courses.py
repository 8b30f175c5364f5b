"""The /courses resource."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import Course
from tests.conftest import COURSE_FIELDS, assert_problem

NEW = {"code": "CS101", "title": "Introduction to Computing"}


def course_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Course))


def test_create_applies_defaults(client):
    response = client.post("/courses", json=NEW)

    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == COURSE_FIELDS
    assert body["credits"] == 3
    assert body["capacity"] is None
    assert body["description"] is None
    assert response.headers["Location"].endswith(f"/courses/{body['id']}")
    assert db.session.get(Course, body["id"]).code == "CS101"


def test_create_with_every_field(client):
    body = {**NEW, "description": "Line one\nline two", "credits": 0, "capacity": 30}

    response = client.post("/courses", json=body)

    assert response.status_code == 201
    assert {k: response.get_json()[k] for k in body} == body


@pytest.mark.parametrize("code", ["CS101", "cs101", "Cs101"])
def test_duplicate_code_in_any_case_is_409(client, code):
    client.post("/courses", json=NEW)

    response = client.post("/courses", json={**NEW, "code": code})

    assert_problem(response, 409, "course-code-taken")
    assert course_count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "CS 101"}, "code"),
        ({"code": "X" * 21}, "code"),
        ({"code": None}, "code"),
        ({"title": ""}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"description": "d" * 2001}, "description"),
        ({"description": "nul\x00"}, "description"),
        ({"credits": -1}, "credits"),
        ({"credits": 31}, "credits"),
        ({"credits": 2.5}, "credits"),
        ({"credits": "3"}, "credits"),
        ({"credits": True}, "credits"),
        ({"credits": None}, "credits"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 2**31}, "capacity"),
        ({"capacity": 10**40}, "capacity"),
        ({"id": 1}, "id"),
        ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
        ({"room": "B12"}, "room"),
    ],
)
def test_invalid_bodies_are_422_and_create_nothing(client, changes, field):
    response = client.post("/courses", json={**NEW, **changes})

    problem = assert_problem(response, 422, "validation-error")
    assert field in problem["errors"]
    assert course_count() == 0


def test_patch_is_partial(client, make_course):
    course = make_course(credits=4, capacity=10)

    response = client.patch(f"/courses/{course['id']}", json={"title": "Renamed"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "Renamed"
    assert (body["credits"], body["capacity"], body["code"]) == (4, 10, course["code"])


def test_patch_capacity_to_null_removes_the_limit(client, make_course):
    course = make_course(capacity=10)

    response = client.patch(f"/courses/{course['id']}", json={"capacity": None})

    assert response.status_code == 200
    assert response.get_json()["capacity"] is None


def test_patch_code_to_a_taken_code_is_409(client, make_course):
    make_course(code="MATH1")
    course = make_course(code="MATH2")

    response = client.patch(f"/courses/{course['id']}", json={"code": "math1"})

    assert_problem(response, 409, "course-code-taken")
    assert client.get(f"/courses/{course['id']}").get_json()["code"] == "MATH2"


@pytest.mark.parametrize("body", [{"credits": 99}, {"title": None}, {"code": "a b"}, {"x": 1}])
def test_invalid_patch_is_422_and_changes_nothing(client, make_course, body):
    course = make_course()

    response = client.patch(f"/courses/{course['id']}", json=body)

    assert_problem(response, 422, "validation-error")
    assert client.get(f"/courses/{course['id']}").get_json() == course


def test_delete_course_without_enrollments_is_204(client, make_course):
    course = make_course()

    assert client.delete(f"/courses/{course['id']}").status_code == 204
    assert_problem(client.get(f"/courses/{course['id']}"), 404, "course-not-found")
    assert course_count() == 0


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_course_is_404(client, method):
    response = getattr(client, method)("/courses/999", json={})

    assert_problem(response, 404, "course-not-found")


def test_list_in_id_order_with_filter(client, make_course):
    first = make_course(code="BIO1")
    second = make_course(code="bio2")

    everything = client.get("/courses")
    filtered = client.get("/courses?code=BIO2")

    assert [c["id"] for c in everything.get_json()] == [first["id"], second["id"]]
    assert everything.headers["X-Total-Count"] == "2"
    assert filtered.get_json() == [second]


def test_filter_with_an_impossible_code_is_422(client):
    assert_problem(client.get("/courses?code=no%20spaces"), 422, "validation-error")
