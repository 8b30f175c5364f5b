"""Courses as offerings in a term: terms, meetings, requisites, seats, search and sort."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import Course, StudentCourse
from tests.conftest import assert_problem

MEETING = {"days": ["MO", "WE"], "starts_at": "09:00", "ends_at": "10:15", "room": "ENG 101"}


@pytest.fixture
def make_term(client):
    """Create a term through the API and return its JSON."""
    counter = iter(range(1, 1000))

    def make(**fields):
        n = next(counter)
        body = {
            "code": f"T{n}",
            "name": f"Term {n}",
            "starts_on": "2027-01-11",
            "ends_on": "2027-05-07",
        } | fields
        response = client.post("/terms", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def course_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Course))


def test_a_course_without_a_term_joins_the_default_term(client, make_course):
    default = client.get("/terms").get_json()[0]

    course = make_course()

    assert course["term_id"] == default["id"]
    assert (course["meetings"], course["prerequisites"], course["corequisites"]) == ([], [], [])


def test_two_terms_each_hold_a_cs101_with_their_own_meetings(client, make_term):
    fall, spring = make_term(), make_term()

    first = client.post(
        "/courses",
        json={"code": "CS101", "title": "Intro", "term_id": fall["id"], "meetings": [MEETING]},
    )
    second = client.post(
        "/courses",
        json={
            "code": "cs101",
            "title": "Intro",
            "term_id": spring["id"],
            "meetings": [{"days": ["TU"], "starts_at": "14:00", "ends_at": "15:30"}],
        },
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["meetings"] == [MEETING]
    assert second.get_json()["meetings"] == [
        {"days": ["TU"], "starts_at": "14:00", "ends_at": "15:30", "room": None}
    ]
    again = client.post("/courses", json={"code": "Cs101", "title": "X", "term_id": fall["id"]})
    assert fall["code"] in assert_problem(again, 409, "course-code-taken")["detail"]
    assert course_count() == 2


def test_an_unknown_term_is_404_and_writes_nothing(client):
    response = client.post("/courses", json={"code": "CS1", "title": "T", "term_id": 999})

    assert_problem(response, 404, "term-not-found")
    assert course_count() == 0


@pytest.mark.parametrize(
    ("meeting", "field"),
    [
        ({"days": []}, "days"),
        ({"days": ["MO", "MO"]}, "days"),
        ({"days": ["Monday"]}, "days"),
        ({"starts_at": "9:00"}, "starts_at"),
        ({"starts_at": "24:00"}, "starts_at"),
        ({"ends_at": "09:00"}, "ends_at"),
        ({"ends_at": "08:59"}, "ends_at"),
        ({"room": "r" * 51}, "room"),
        ({"room": ""}, "room"),
        ({"weekly": True}, "weekly"),
    ],
)
def test_invalid_meetings_are_422(client, meeting, field):
    body = {"code": "CS1", "title": "T", "meetings": [{**MEETING, **meeting}]}

    response = client.post("/courses", json=body)

    errors = assert_problem(response, 422, "validation-error")["errors"]
    assert any(name.startswith(f"meetings.0.{field}") for name in errors), errors
    assert course_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"meetings": [MEETING] * 11},
        {"meetings": MEETING},
        {"prerequisites": ["CS 1"]},
        {"prerequisites": ["CS1", "cs1"]},
        {"prerequisites": [f"C{n}" for n in range(11)]},
        {"corequisites": "CS1"},
        {"term_id": "1"},
        {"enrolled_count": 0},
        {"seats_available": 3},
    ],
)
def test_invalid_offering_fields_are_422(client, body):
    response = client.post("/courses", json={"code": "CS1", "title": "T", **body})

    assert next(iter(body)) in str(assert_problem(response, 422, "validation-error")["errors"])


def test_patch_replaces_meetings_and_requisites_whole(client, make_course):
    course = make_course(meetings=[MEETING, {**MEETING, "days": ["FR"]}], prerequisites=["CS1"])

    response = client.patch(
        f"/courses/{course['id']}",
        json={"meetings": [{**MEETING, "room": None}], "corequisites": ["LAB1"]},
    )

    body = response.get_json()
    assert response.status_code == 200, body
    assert body["meetings"] == [{**MEETING, "room": None}]
    assert (body["prerequisites"], body["corequisites"]) == (["CS1"], ["LAB1"])


def test_seats_are_counted_everywhere_a_course_appears(client, make_course, make_student):
    course = make_course(capacity=2, waitlist_capacity=5)
    unlimited = make_course()
    ada, bob, cy = make_student(), make_student(), make_student()

    enrolled = client.post(f"/students/{ada['id']}/courses", json={"course_id": course["id"]})
    assert (enrolled.get_json()["enrolled_count"], enrolled.get_json()["seats_available"]) == (1, 1)
    again = client.put(f"/students/{ada['id']}/courses/{course['id']}")
    assert (again.get_json()["enrolled_count"], again.get_json()["seats_available"]) == (1, 1)
    client.post(f"/students/{bob['id']}/courses", json={"course_id": course["id"]})
    waiting = client.post(
        f"/students/{cy['id']}/courses", json={"course_id": course["id"], "waitlist": True}
    )
    assert waiting.status_code == 202
    assert (waiting.get_json()["enrolled_count"], waiting.get_json()["seats_available"]) == (2, 0)

    read = client.get(f"/courses/{course['id']}").get_json()
    assert (read["enrolled_count"], read["seats_available"]) == (2, 0)
    listed = {c["id"]: c for c in client.get("/courses").get_json()}
    assert (listed[course["id"]]["enrolled_count"], listed[unlimited["id"]]["seats_available"]) == (
        2,
        None,
    )
    mine = client.get(f"/students/{ada['id']}/courses").get_json()
    assert mine[0]["enrolled_count"] == 2
    queued = client.get(f"/students/{cy['id']}/courses?status=waitlisted").get_json()
    assert queued[0]["seats_available"] == 0
    # Raising the capacity promotes the first in line; the answer counts them.
    raised = client.patch(f"/courses/{course['id']}", json={"capacity": 3}).get_json()
    assert (raised["enrolled_count"], raised["seats_available"]) == (3, 0)


def test_a_course_moves_term_only_while_nobody_is_in_it(
    client, make_course, make_student, make_term
):
    spring = make_term()
    course = make_course(code="CS5")
    student = make_student()
    client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})

    refused = client.patch(f"/courses/{course['id']}", json={"term_id": spring["id"]})
    assert_problem(refused, 409, "course-has-enrollments")

    client.delete(f"/students/{student['id']}/courses/{course['id']}")
    moved = client.patch(f"/courses/{course['id']}", json={"term_id": spring["id"]})
    assert moved.status_code == 200
    assert moved.get_json()["term_id"] == spring["id"]
    missing = client.patch(f"/courses/{course['id']}", json={"term_id": 999})
    assert_problem(missing, 404, "term-not-found")


def test_moving_into_a_term_that_has_the_code_is_409(client, make_course, make_term):
    spring = make_term()
    client.post("/courses", json={"code": "CS5", "title": "T", "term_id": spring["id"]})
    course = make_course(code="cs5")

    response = client.patch(f"/courses/{course['id']}", json={"term_id": spring["id"]})

    assert spring["code"] in assert_problem(response, 409, "course-code-taken")["detail"]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [course["id"] for course in response.get_json()]


def test_filters_combine_and_the_total_counts_the_filtered_list(
    client, make_course, make_term, make_student
):
    spring = make_term()
    a = client.post(
        "/courses",
        json={"code": "MATH1", "title": "Calculus 100%", "capacity": 1, "term_id": spring["id"]},
    ).get_json()
    b = client.post(
        "/courses", json={"code": "CS1", "title": "Intro to Mathematics", "term_id": spring["id"]}
    ).get_json()
    c = make_course(code="MATH1", title="Calculus")
    student = make_student()
    enrolled = client.post(f"/students/{student['id']}/courses", json={"course_id": a["id"]})
    assert enrolled.status_code == 201, enrolled.get_json()

    assert ids(client.get(f"/courses?term_id={spring['id']}")) == [a["id"], b["id"]]
    assert ids(client.get("/courses?code=math1")) == [a["id"], c["id"]]
    assert ids(client.get("/courses?q=MATH")) == [a["id"], b["id"], c["id"]]
    assert ids(client.get("/courses?q=100%25")) == [a["id"]]
    assert ids(client.get("/courses?q=_")) == []
    assert ids(client.get("/courses?has_seats=true")) == [b["id"], c["id"]]
    assert ids(client.get("/courses?has_seats=false")) == [a["id"]]
    response = client.get(f"/courses?term_id={spring['id']}&q=math&has_seats=true&limit=1")
    assert ids(response) == [b["id"]]
    assert response.headers["X-Total-Count"] == "1"
    response = client.get("/courses?q=calculus&limit=1")
    assert response.headers["X-Total-Count"] == "2"


def test_courses_sort(client, make_course):
    b = make_course(code="B", title="Alpha")
    a = make_course(code="A", title="Beta")
    c = make_course(code="C", title="Alpha")

    assert ids(client.get("/courses?sort=code")) == [a["id"], b["id"], c["id"]]
    assert ids(client.get("/courses?sort=-code")) == [c["id"], b["id"], a["id"]]
    assert ids(client.get("/courses?sort=title")) == [b["id"], c["id"], a["id"]]
    assert ids(client.get("/courses?sort=-title")) == [a["id"], b["id"], c["id"]]
    assert ids(client.get("/courses?sort=created_at")) == [b["id"], a["id"], c["id"]]
    assert ids(client.get("/courses?sort=-created_at&limit=1")) == [c["id"]]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("sort=credits", "sort"),
        ("sort=", "sort"),
        ("term_id=abc", "term_id"),
        ("term_id=0", "term_id"),
        ("has_seats=yes", "has_seats"),
        ("has_seats=1", "has_seats"),
        ("q=", "q"),
        ("q=" + "x" * 101, "q"),
    ],
)
def test_bad_course_list_parameters_are_422_naming_them(client, query, parameter):
    response = client.get(f"/courses?{query}")

    assert parameter in assert_problem(response, 422, "validation-error")["errors"]


def test_students_search_and_sort(client, make_student):
    ada = make_student(first_name="Ada", last_name="Lovelace", email="ada@example.edu")
    alan = make_student(first_name="Alan", last_name="Turing", email="alan@example.edu")
    grace = make_student(first_name="Grace", last_name="Hopper", email="amazing@navy.mil")

    assert ids(client.get("/students?q=LOVE")) == [ada["id"]]
    assert ids(client.get("/students?q=a")) == [ada["id"], alan["id"], grace["id"]]
    assert ids(client.get("/students?q=navy")) == [grace["id"]]
    assert ids(client.get("/students?q=%25")) == []
    assert ids(client.get("/students?sort=last_name")) == [grace["id"], ada["id"], alan["id"]]
    assert ids(client.get("/students?sort=-last_name")) == [alan["id"], ada["id"], grace["id"]]
    assert ids(client.get("/students?sort=email")) == [ada["id"], alan["id"], grace["id"]]
    assert ids(client.get("/students?sort=-created_at")) == [grace["id"], alan["id"], ada["id"]]
    response = client.get("/students?q=example&sort=email&limit=1")
    assert ids(response) == [ada["id"]]
    assert response.headers["X-Total-Count"] == "2"
    assert ids(client.get("/students?email=ADA@example.edu&q=ada")) == [ada["id"]]
    assert (
        "sort"
        in assert_problem(client.get("/students?sort=first_name"), 422, "validation-error")[
            "errors"
        ]
    )


def test_a_students_courses_in_one_term(client, make_course, make_student, make_term):
    spring = make_term()
    here = make_course()
    there = client.post(
        "/courses", json={"code": "S1", "title": "T", "term_id": spring["id"], "capacity": 1}
    ).get_json()
    full = client.post(
        "/courses",
        json={
            "code": "S2",
            "title": "T",
            "term_id": spring["id"],
            "capacity": 1,
            "waitlist_capacity": 3,
        },
    ).get_json()
    student, other = make_student(), make_student()
    client.post(f"/students/{other['id']}/courses", json={"course_id": full["id"]})
    for course in (here, there):
        client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    client.post(
        f"/students/{student['id']}/courses", json={"course_id": full["id"], "waitlist": True}
    )

    url = f"/students/{student['id']}/courses"
    assert ids(client.get(f"{url}?term_id={spring['id']}")) == [there["id"]]
    response = client.get(f"{url}?term_id={spring['id']}&status=all")
    assert ids(response) == [there["id"], full["id"]]
    assert response.headers["X-Total-Count"] == "2"
    assert ids(client.get(f"{url}?status=waitlisted&term_id={here['term_id']}")) == []
    assert ids(client.get(f"{url}?status=all")) == [here["id"], there["id"], full["id"]]
    assert_problem(client.get("/students/999/courses?term_id=1"), 404, "student-not-found")


def test_the_kept_counts_follow_every_way_a_seat_is_taken_or_freed(
    client, make_course, make_student
):
    course = make_course(capacity=2, waitlist_capacity=5)
    other = make_course()
    ada, bob, cy, dee = (make_student() for _ in range(4))
    client.post(f"/students/{ada['id']}/courses", json={"course_id": course["id"]})
    client.put(f"/students/{bob['id']}/courses/{course['id']}")
    client.post(f"/students/{cy['id']}/courses", json={"course_id": course["id"], "waitlist": True})
    batch = [{"student_id": s["id"], "course_id": other["id"]} for s in (ada, bob, cy, dee)]
    assert client.post("/enrollments/batch", json={"enrollments": batch}).status_code == 200
    client.delete(f"/students/{ada['id']}/courses/{course['id']}")  # cy is promoted
    assert client.delete(f"/students/{bob['id']}").status_code == 204  # leaves both courses

    counted = dict(
        db.session.execute(
            select(StudentCourse.course_id, func.count()).group_by(StudentCourse.course_id)
        ).all()
    )
    kept = dict(db.session.execute(select(Course.id, Course.enrolled_count)).all())
    assert kept == {course["id"]: counted[course["id"]], other["id"]: counted[other["id"]]}
    assert kept == {course["id"]: 1, other["id"]: 3}
    assert client.get(f"/courses/{course['id']}").get_json()["seats_available"] == 1
