"""Instructors, their assignments to courses, and what an instructor key may do."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import ApiKey, CourseInstructor, Instructor
from tests.conftest import assert_problem, new_key

TEACHER = {"first_name": "Barbara", "last_name": "Liskov", "email": "liskov@example.edu"}


@pytest.fixture
def make_instructor(client):
    counter = iter(range(1, 1000))

    def make(**fields):
        n = next(counter)
        body = TEACHER | {"email": f"teacher{n}@example.edu"} | fields
        response = client.post("/instructors", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_read_update_an_instructor(client):
    response = client.post("/instructors", json=TEACHER)

    assert response.status_code == 201
    instructor = response.get_json()
    assert list(instructor) == [
        "id",
        "first_name",
        "last_name",
        "email",
        "created_at",
        "updated_at",
    ]
    assert response.headers["Location"].endswith(f"/instructors/{instructor['id']}")
    read = client.get(f"/instructors/{instructor['id']}")
    assert read.get_json() == instructor
    changed = client.patch(
        f"/instructors/{instructor['id']}",
        json={"last_name": "L"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert changed.get_json()["last_name"] == "L"
    assert client.get("/instructors").headers["X-Total-Count"] == "1"


@pytest.mark.parametrize("email", ["liskov@example.edu", "LISKOV@Example.edu"])
def test_an_instructor_email_is_unique_in_any_case(client, email):
    client.post("/instructors", json=TEACHER)

    response = client.post("/instructors", json={**TEACHER, "email": email})

    assert "instructor" in assert_problem(response, 409, "email-taken")["detail"]
    assert count(Instructor) == 1


def test_a_student_may_share_an_instructors_email(client, make_student):
    make_student(email=TEACHER["email"])

    assert client.post("/instructors", json=TEACHER).status_code == 201


def test_assignments(client, make_course, make_instructor):
    course = make_course()
    ada, bob = make_instructor(), make_instructor()
    url = f"/courses/{course['id']}/instructors"

    created = client.put(f"{url}/{ada['id']}", json={"role": "primary"})
    assert created.status_code == 201
    assert created.get_json() == {**ada, "role": "primary"}
    again = client.put(f"{url}/{ada['id']}", json={"role": "primary"})
    assert again.status_code == 200
    second = client.put(f"{url}/{bob['id']}", json={"role": "primary"})
    assert_problem(second, 409, "course-has-primary-instructor")
    assert client.put(f"{url}/{bob['id']}", json={"role": "secondary"}).status_code == 201

    listed = client.get(url)
    assert [(i["id"], i["role"]) for i in listed.get_json()] == [
        (ada["id"], "primary"),
        (bob["id"], "secondary"),
    ]
    # Swapping the roles: the primary steps down first.
    assert client.put(f"{url}/{ada['id']}", json={"role": "secondary"}).status_code == 200
    assert client.put(f"{url}/{bob['id']}", json={"role": "primary"}).status_code == 200

    assert client.delete(f"{url}/{ada['id']}").status_code == 204
    assert_problem(client.delete(f"{url}/{ada['id']}"), 404, "not-assigned")
    assert count(CourseInstructor) == 1


@pytest.mark.parametrize(
    "body", [{}, {"role": "lead"}, {"role": None}, {"role": "primary", "x": 1}]
)
def test_a_bad_assignment_is_422(client, make_course, make_instructor, body):
    course, instructor = make_course(), make_instructor()

    response = client.put(f"/courses/{course['id']}/instructors/{instructor['id']}", json=body)

    assert_problem(response, 422, "validation-error")
    assert count(CourseInstructor) == 0


def test_assigning_to_a_missing_course_or_instructor_is_404(client, make_course, make_instructor):
    course, instructor = make_course(), make_instructor()
    role = {"role": "primary"}

    assert_problem(
        client.put(f"/courses/999/instructors/{instructor['id']}", json=role),
        404,
        "course-not-found",
    )
    assert_problem(
        client.put(f"/courses/{course['id']}/instructors/999", json=role),
        404,
        "instructor-not-found",
    )
    assert_problem(client.get("/courses/999/instructors"), 404, "course-not-found")
    assert_problem(client.get("/instructors/999/courses"), 404, "instructor-not-found")


def test_two_terms_each_hold_a_cs101_with_different_instructors(client, make_instructor):
    fall = client.post(
        "/terms",
        json={"code": "F", "name": "Fall", "starts_on": "2027-09-01", "ends_on": "2027-12-17"},
    ).get_json()
    spring = client.post(
        "/terms",
        json={"code": "S", "name": "Spring", "starts_on": "2028-01-10", "ends_on": "2028-05-05"},
    ).get_json()
    ada, bob = make_instructor(), make_instructor()
    courses = {}
    for term, teacher in ((fall, ada), (spring, bob)):
        course = client.post(
            "/courses", json={"code": "CS101", "title": "Intro", "term_id": term["id"]}
        ).get_json()
        client.put(f"/courses/{course['id']}/instructors/{teacher['id']}", json={"role": "primary"})
        courses[term["id"]] = course

    taught = client.get(f"/instructors/{ada['id']}/courses").get_json()
    assert [c["id"] for c in taught] == [courses[fall["id"]]["id"]]
    assert client.get(f"/instructors/{bob['id']}/courses?term_id={fall['id']}").get_json() == []
    found = client.get(f"/courses?instructor_id={bob['id']}&code=cs101").get_json()
    assert [c["term_id"] for c in found] == [spring["id"]]


def test_deleting_an_instructor_removes_assignments_and_keys(
    app, client, make_course, make_instructor
):
    course, instructor = make_course(), make_instructor()
    client.put(f"/courses/{course['id']}/instructors/{instructor['id']}", json={"role": "primary"})
    key = new_key(app, "instructor", instructor_id=instructor["id"])
    assert app.test_client(api_key=key).get(f"/courses/{course['id']}/students").status_code == 200

    assert client.delete(f"/instructors/{instructor['id']}").status_code == 204

    assert count(CourseInstructor) == 0
    assert db.session.scalar(select(func.count()).where(ApiKey.role == "instructor")) == 0
    assert app.test_client(api_key=key).get("/courses").status_code == 401


def test_an_instructor_key_reads_only_its_own_rosters(
    app, client, make_course, make_instructor, make_student
):
    mine, theirs = make_course(), make_course()
    instructor = make_instructor()
    client.put(f"/courses/{mine['id']}/instructors/{instructor['id']}", json={"role": "secondary"})
    student = make_student()
    teacher = app.test_client(api_key=new_key(app, "instructor", instructor_id=instructor["id"]))

    assert teacher.get(f"/courses/{mine['id']}/students").status_code == 200
    assert teacher.get(f"/courses/{mine['id']}/waitlist").status_code == 200
    assert teacher.get(f"/courses/{theirs['id']}/students").status_code == 403
    assert teacher.get(f"/students/{student['id']}").status_code == 403
    assert teacher.get(f"/instructors/{instructor['id']}").status_code == 200
    assert teacher.patch(f"/courses/{mine['id']}", json={"title": "X"}).status_code == 403
    assert teacher.get("/terms").status_code == 200
