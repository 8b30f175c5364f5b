"""Enrollment endpoints: /students/<id>/courses and the roster /courses/<id>/students."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from src.database import db
from src.models import Course, Student, StudentCourse
from tests.api.test_races import race
from tests.conftest import COURSE_FIELDS, assert_problem


def enrollment_rows() -> list[tuple[int, int]]:
    db.session.expire_all()
    query = select(StudentCourse.student_id, StudentCourse.course_id).order_by(
        StudentCourse.student_id, StudentCourse.course_id
    )
    return [tuple(row) for row in db.session.execute(query)]


def enroll(client, student_id, course_id):
    return client.post(f"/students/{student_id}/courses", json={"course_id": course_id})


@pytest.fixture
def student(make_student):
    return make_student()


@pytest.fixture
def course(make_course):
    return make_course()


# -- POST /students/<id>/courses ------------------------------------------------


def test_enroll_returns_201_location_and_the_course(client, student, course):
    response = enroll(client, student["id"], course["id"])

    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == [*COURSE_FIELDS, "enrolled_at", "status"]
    assert body["status"] == "enrolled"
    # The course as it reads now: with this enrollment counted.
    assert {k: body[k] for k in COURSE_FIELDS} == course | {"enrolled_count": 1}
    assert datetime.fromisoformat(body["enrolled_at"]).utcoffset().total_seconds() == 0
    assert response.headers["Location"] == f"/students/{student['id']}/courses/{course['id']}"
    assert enrollment_rows() == [(student["id"], course["id"])]


def test_enroll_twice_is_409_already_enrolled(client, student, course):
    enroll(client, student["id"], course["id"])

    response = enroll(client, student["id"], course["id"])

    assert_problem(response, 409, "already-enrolled")
    assert enrollment_rows() == [(student["id"], course["id"])]


def test_enroll_in_a_full_course_is_409_course_full(client, make_student, make_course):
    course = make_course(capacity=2)
    students = [make_student() for _ in range(3)]
    for s in students[:2]:
        assert enroll(client, s["id"], course["id"]).status_code == 201

    response = enroll(client, students[2]["id"], course["id"])

    assert_problem(response, 409, "course-full")
    assert len(enrollment_rows()) == 2


def test_already_enrolled_wins_over_full(client, student, make_course):
    course = make_course(capacity=1)
    enroll(client, student["id"], course["id"])

    assert_problem(enroll(client, student["id"], course["id"]), 409, "already-enrolled")


def test_enroll_unknown_student_is_404(client, course):
    assert_problem(enroll(client, 999, course["id"]), 404, "student-not-found")


def test_enroll_unknown_course_is_404(client, student):
    assert_problem(enroll(client, student["id"], 999), 404, "course-not-found")


def test_unknown_student_wins_over_unknown_course(client):
    assert_problem(enroll(client, 998, 999), 404, "student-not-found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"course_id": None},
        {"course_id": "1"},
        {"course_id": 1.5},
        {"course_id": True},
        {"course_id": [1]},
        {"course_id": 0},
        {"course_id": 2**31},
        {"course_id": 10**30},
        {"course_id": 1, "grade": "A"},
        {"course_id": 1, "student_id": 2},
        {"course_id": 1, "enrolled_at": "2024-01-01T00:00:00Z"},
    ],
)
def test_invalid_enrollment_bodies_are_422(client, student, course, body):
    response = client.post(f"/students/{student['id']}/courses", json=body)

    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"]
    assert enrollment_rows() == []


@pytest.mark.parametrize("raw", ["[1]", "1", "null", '"course"'])
def test_enrollment_body_that_is_not_an_object_is_422(client, student, raw):
    response = client.post(
        f"/students/{student['id']}/courses", data=raw, content_type="application/json"
    )

    assert_problem(response, 422, "validation-error")


def test_enrollment_body_must_be_json(client, student, course):
    response = client.post(f"/students/{student['id']}/courses", data=f"course_id={course['id']}")

    assert_problem(response, 415, "unsupported-media-type")


# -- GET /students/<id>/courses and /students/<id>/courses/<course_id> ---------------


def test_list_is_ordered_by_enrollment_then_course_id(client, student, make_course):
    courses = [make_course() for _ in range(4)]
    for c in reversed(courses):
        enroll(client, student["id"], c["id"])

    response = client.get(f"/students/{student['id']}/courses")

    assert response.status_code == 200
    body = response.get_json()
    assert response.headers["X-Total-Count"] == "4"
    keys = [(item["enrolled_at"], item["id"]) for item in body]
    assert keys == sorted(keys)
    assert {item["id"] for item in body} == {c["id"] for c in courses}
    assert all(list(item) == [*COURSE_FIELDS, "enrolled_at", "status"] for item in body)
    assert {item["status"] for item in body} == {"enrolled"}


def test_list_is_paginated(client, student, make_course):
    for _ in range(5):
        enroll(client, student["id"], make_course()["id"])
    everything = client.get(f"/students/{student['id']}/courses").get_json()

    page = client.get(f"/students/{student['id']}/courses?limit=2&offset=2")

    assert page.get_json() == everything[2:4]
    assert page.headers["X-Total-Count"] == "5"
    assert 'offset=4>; rel="next"' in page.headers["Link"]
    past_end = client.get(f"/students/{student['id']}/courses?offset=10")
    assert past_end.get_json() == []
    assert past_end.headers["X-Total-Count"] == "5"


def test_list_of_a_student_without_courses_is_empty(client, student):
    response = client.get(f"/students/{student['id']}/courses")

    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc"])
def test_list_pagination_out_of_range_is_422(client, student, query):
    assert_problem(
        client.get(f"/students/{student['id']}/courses?{query}"), 422, "validation-error"
    )


def test_list_of_unknown_student_is_404(client):
    assert_problem(client.get("/students/4242/courses"), 404, "student-not-found")


def test_get_one_enrollment(client, student, course):
    created = enroll(client, student["id"], course["id"]).get_json()

    response = client.get(f"/students/{student['id']}/courses/{course['id']}")

    assert response.status_code == 200
    assert response.get_json() == created


@pytest.mark.parametrize(
    ("student_id", "course_id", "slug"),
    [
        ("unknown", "known", "student-not-found"),
        ("known", "unknown", "course-not-found"),
        ("known", "known", "not-enrolled"),
    ],
)
def test_get_one_enrollment_404s(client, student, course, student_id, course_id, slug):
    sid = student["id"] if student_id == "known" else 9999
    cid = course["id"] if course_id == "known" else 9999

    assert_problem(client.get(f"/students/{sid}/courses/{cid}"), 404, slug)


# -- PUT /students/<id>/courses/<course_id> -------------------------------------


def test_put_enrolls_with_201_then_answers_200(client, student, course):
    path = f"/students/{student['id']}/courses/{course['id']}"

    first = client.put(path)
    second = client.put(path)

    assert first.status_code == 201
    assert first.headers["Location"] == path
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert enrollment_rows() == [(student["id"], course["id"])]


def test_put_into_a_full_course_is_409(client, make_student, make_course):
    course = make_course(capacity=1)
    first, second = make_student(), make_student()
    client.put(f"/students/{first['id']}/courses/{course['id']}")

    assert_problem(
        client.put(f"/students/{second['id']}/courses/{course['id']}"), 409, "course-full"
    )
    # Already enrolled in a full course is still a success.
    assert client.put(f"/students/{first['id']}/courses/{course['id']}").status_code == 200


def test_put_404s(client, student, course):
    assert_problem(client.put(f"/students/9999/courses/{course['id']}"), 404, "student-not-found")
    assert_problem(client.put(f"/students/{student['id']}/courses/9999"), 404, "course-not-found")


def test_put_accepts_an_empty_json_object(client, student, course):
    response = client.put(
        f"/students/{student['id']}/courses/{course['id']}",
        data=json.dumps({}),
        content_type="application/json",
    )

    assert response.status_code == 201


# -- DELETE /students/<id>/courses/<course_id> ----------------------------------


def test_unenroll_is_204_then_404_not_enrolled(client, student, course):
    enroll(client, student["id"], course["id"])
    path = f"/students/{student['id']}/courses/{course['id']}"

    assert client.delete(path).status_code == 204
    assert enrollment_rows() == []
    assert_problem(client.delete(path), 404, "not-enrolled")


def test_unenroll_frees_a_seat(client, make_student, make_course):
    course = make_course(capacity=1)
    first, second = make_student(), make_student()
    enroll(client, first["id"], course["id"])
    client.delete(f"/students/{first['id']}/courses/{course['id']}")

    assert enroll(client, second["id"], course["id"]).status_code == 201


def test_unenroll_404s(client, student, course):
    assert_problem(
        client.delete(f"/students/9999/courses/{course['id']}"), 404, "student-not-found"
    )
    assert_problem(
        client.delete(f"/students/{student['id']}/courses/9999"), 404, "course-not-found"
    )


# -- Deleting students and courses ----------------------------------------------


def test_deleting_a_student_removes_their_enrollments(client, student, course):
    enroll(client, student["id"], course["id"])

    assert client.delete(f"/students/{student['id']}").status_code == 204

    assert enrollment_rows() == []
    assert client.get(f"/courses/{course['id']}/students").get_json() == []


def test_deleting_a_course_with_enrollments_is_409(client, student, course):
    enroll(client, student["id"], course["id"])

    assert_problem(client.delete(f"/courses/{course['id']}"), 409, "course-has-enrollments")
    assert client.get(f"/courses/{course['id']}").status_code == 200
    assert enrollment_rows() == [(student["id"], course["id"])]

    client.delete(f"/students/{student['id']}/courses/{course['id']}")
    assert client.delete(f"/courses/{course['id']}").status_code == 204


# -- Capacity changes -----------------------------------------------------------


def test_capacity_cannot_go_below_enrollment(client, make_student, make_course):
    course = make_course(capacity=5)
    for _ in range(3):
        enroll(client, make_student()["id"], course["id"])
    path = f"/courses/{course['id']}"

    assert_problem(client.patch(path, json={"capacity": 2}), 409, "capacity-below-enrollment")
    assert client.get(path).get_json()["capacity"] == 5
    assert client.patch(path, json={"capacity": 3}).get_json()["capacity"] == 3
    assert_problem(enroll(client, make_student()["id"], course["id"]), 409, "course-full")
    assert client.patch(path, json={"capacity": None}).get_json()["capacity"] is None
    assert enroll(client, make_student()["id"], course["id"]).status_code == 201


# -- GET /courses/<id>/students ---------------------------------------------------


def test_roster_lists_students_with_enrolled_at(client, make_student, course):
    students = [make_student() for _ in range(3)]
    for s in students:
        enroll(client, s["id"], course["id"])

    response = client.get(f"/courses/{course['id']}/students?limit=2")

    assert response.status_code == 200
    body = response.get_json()
    assert response.headers["X-Total-Count"] == "3"
    assert [s["id"] for s in body] == [s["id"] for s in students[:2]]
    assert {k: body[0][k] for k in students[0]} == students[0]
    assert "enrolled_at" in body[0]


def test_roster_of_unknown_course_is_404(client):
    assert_problem(client.get("/courses/9999/students"), 404, "course-not-found")


# -- Concurrency: the database is the guard ------------------------------------------

ROUNDS = 3


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_fifty_students_race_for_five_seats(app, client, make_student, make_course, round_):
    course = make_course(capacity=5)
    students = [make_student() for _ in range(50)]

    responses = race(
        app,
        [("POST", f"/students/{s['id']}/courses", {"course_id": course["id"]}) for s in students],
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 45, statuses
    assert all(
        r.get_json()["type"].endswith("/course-full") for r in responses if r.status_code == 409
    )
    assert len(enrollment_rows()) == 5


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_twenty_requests_race_to_enroll_one_pair(app, student, course, method, round_):
    if method == "POST":
        request = ("POST", f"/students/{student['id']}/courses", {"course_id": course["id"]})
        losers = (409, "/already-enrolled")
    else:
        request = ("PUT", f"/students/{student['id']}/courses/{course['id']}", None)
        losers = (200, None)

    responses = race(app, [request] * 20)

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(losers[0]) == 19, statuses
    if losers[1]:
        assert all(
            r.get_json()["type"].endswith(losers[1]) for r in responses if r.status_code == 409
        )
    assert enrollment_rows() == [(student["id"], course["id"])]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_capacity_changes_racing_enrollments_never_overfill(app, make_student, make_course, round_):
    course = make_course(capacity=10)
    students = [make_student() for _ in range(20)]
    enrollments = [
        ("POST", f"/students/{s['id']}/courses", {"course_id": course["id"]}) for s in students
    ]
    shrinks = [("PATCH", f"/courses/{course['id']}", {"capacity": c}) for c in (1, 3, 2, 4)]

    responses = race(app, [x for pair in zip(enrollments, shrinks * 5, strict=True) for x in pair])

    assert all(r.status_code in (200, 201, 409) for r in responses), [
        r.status_code for r in responses
    ]
    db.session.expire_all()
    enrolled = db.session.scalar(
        select(func.count())
        .select_from(StudentCourse)
        .where(StudentCourse.course_id == course["id"])
    )
    capacity = db.session.get(Course, course["id"]).capacity
    assert enrolled <= capacity
    assert enrolled == sum(r.status_code == 201 for r in responses)


def test_student_model_sees_enrollments(client, student, course):
    enroll(client, student["id"], course["id"])
    db.session.expire_all()

    loaded = db.session.get(Student, student["id"], options=[selectinload(Student.courses)])
    assert [c.id for c in loaded.courses] == [course["id"]]


@pytest.mark.parametrize("status", ["enrolled", "waitlisted", "all"])
def test_the_courses_of_an_unknown_student_are_404_whatever_the_status(client, status):
    response = client.get(f"/students/999/courses?status={status}&offset=50")

    assert_problem(response, 404, "student-not-found")
