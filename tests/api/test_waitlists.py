"""Waitlists: joining a full course's line, leaving it, and fair automatic promotion."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from src.database import db
from src.models import EnrollmentEvent, StudentCourse, WaitlistEntry
from tests.conftest import COURSE_FIELDS, assert_problem, new_key


def join(client, student_id, course_id, waitlist=True):
    body = {"course_id": course_id, "waitlist": waitlist}
    return client.post(f"/students/{student_id}/courses", json=body)


def enrolled(course_id: int) -> list[int]:
    db.session.expire_all()
    query = select(StudentCourse.student_id).where(StudentCourse.course_id == course_id)
    return sorted(db.session.scalars(query))


def line(course_id: int) -> list[int]:
    db.session.expire_all()
    query = (
        select(WaitlistEntry.student_id)
        .where(WaitlistEntry.course_id == course_id)
        .order_by(WaitlistEntry.id)
    )
    return list(db.session.scalars(query))


def events_of(type_: str) -> list[tuple[int, int, str, str | None]]:
    db.session.expire_all()
    query = (
        select(
            EnrollmentEvent.student_id,
            EnrollmentEvent.course_id,
            EnrollmentEvent.actor_kind,
            EnrollmentEvent.reason,
        )
        .where(EnrollmentEvent.type == type_)
        .order_by(EnrollmentEvent.id)
    )
    return [tuple(row) for row in db.session.execute(query)]


@pytest.fixture
def full_course(client, make_student, make_course):
    """A course of capacity 2, full, with an unlimited waitlist; and 4 more students."""
    course = make_course(capacity=2, waitlist_capacity=None)
    seated = [make_student()["id"] for _ in range(2)]
    for student_id in seated:
        assert join(client, student_id, course["id"]).status_code == 201
    others = [make_student()["id"] for _ in range(4)]
    return course, seated, others


# -- Courses ------------------------------------------------------------------------------


def test_courses_have_no_waitlist_by_default(make_course):
    assert make_course()["waitlist_capacity"] == 0


@pytest.mark.parametrize("value", [0, 1, 10_000, None])
def test_waitlist_capacity_is_0_to_10000_or_null(client, make_course, value):
    course = make_course(waitlist_capacity=value)

    assert course["waitlist_capacity"] == value
    patched = client.patch(f"/courses/{course['id']}", json={"waitlist_capacity": 5})
    assert patched.get_json()["waitlist_capacity"] == 5


@pytest.mark.parametrize("value", [-1, 10_001, "1", 1.5, True])
def test_a_bad_waitlist_capacity_is_422(client, value):
    response = client.post(
        "/courses", json={"code": "W1", "title": "W", "waitlist_capacity": value}
    )

    problem = assert_problem(response, 422, "validation-error")
    assert "waitlist_capacity" in problem["errors"]


def test_lowering_the_waitlist_capacity_below_the_line_is_409(client, full_course):
    course, _, others = full_course
    for student_id in others[:3]:
        join(client, student_id, course["id"])

    response = client.patch(f"/courses/{course['id']}", json={"waitlist_capacity": 2})

    assert_problem(response, 409, "capacity-below-waitlist")
    assert client.get(f"/courses/{course['id']}").get_json()["waitlist_capacity"] is None
    ok = client.patch(f"/courses/{course['id']}", json={"waitlist_capacity": 3})
    assert ok.status_code == 200


def test_a_course_with_a_line_cannot_be_deleted(client, full_course):
    course, seated, others = full_course
    join(client, others[0], course["id"])
    for student_id in seated:
        client.delete(f"/students/{student_id}/courses/{course['id']}")
    client.delete(f"/students/{others[0]}/courses/{course['id']}")
    assert line(course["id"]) == []

    assert client.delete(f"/courses/{course['id']}").status_code == 204


def test_a_course_with_only_a_line_is_409_on_delete(client, make_student, make_course):
    course = make_course(capacity=1, waitlist_capacity=5)
    first, second = make_student()["id"], make_student()["id"]
    join(client, first, course["id"])
    join(client, second, course["id"])
    client.patch(f"/courses/{course['id']}", json={"capacity": 1})
    client.delete(f"/students/{first}/courses/{course['id']}")  # second takes the seat

    assert_problem(client.delete(f"/courses/{course['id']}"), 409, "course-has-enrollments")


# -- Joining --------------------------------------------------------------------------------


def test_with_a_free_seat_waitlist_true_enrolls(client, make_student, make_course):
    course = make_course(capacity=1, waitlist_capacity=3)

    response = join(client, make_student()["id"], course["id"])

    assert response.status_code == 201
    assert response.get_json()["status"] == "enrolled"


def test_joining_a_full_course_is_202_with_a_place_in_line(client, full_course):
    course, _, others = full_course

    first = join(client, others[0], course["id"])
    second = join(client, others[1], course["id"])

    assert first.status_code == second.status_code == 202
    assert first.headers["Location"] == f"/students/{others[0]}/courses/{course['id']}"
    body = second.get_json()
    assert list(body) == [*COURSE_FIELDS, "status", "waitlist_position", "waitlisted_at"]
    assert (body["status"], body["waitlist_position"]) == ("waitlisted", 2)
    assert datetime.fromisoformat(body["waitlisted_at"]).utcoffset().total_seconds() == 0
    assert line(course["id"]) == others[:2]
    assert events_of("waitlisted") == [
        (others[0], course["id"], "api_key", None),
        (others[1], course["id"], "api_key", None),
    ]


def test_a_full_course_without_the_flag_is_409_course_full(client, full_course):
    course, _, others = full_course

    assert_problem(join(client, others[0], course["id"], waitlist=False), 409, "course-full")
    assert_problem(
        client.post(f"/students/{others[0]}/courses", json={"course_id": course["id"]}),
        409,
        "course-full",
    )
    assert line(course["id"]) == []


def test_a_full_course_without_a_waitlist_is_409_course_full(client, make_student, make_course):
    course = make_course(capacity=1)
    join(client, make_student()["id"], course["id"])

    assert_problem(join(client, make_student()["id"], course["id"]), 409, "course-full")
    assert line(course["id"]) == []


def test_a_full_waitlist_is_409_waitlist_full(client, make_student, make_course):
    course = make_course(capacity=1, waitlist_capacity=1)
    join(client, make_student()["id"], course["id"])
    assert join(client, make_student()["id"], course["id"]).status_code == 202

    assert_problem(join(client, make_student()["id"], course["id"]), 409, "waitlist-full")


def test_joining_twice_is_409_already_waitlisted(client, full_course):
    course, seated, others = full_course
    join(client, others[0], course["id"])

    assert_problem(join(client, others[0], course["id"]), 409, "already-waitlisted")
    assert_problem(join(client, others[0], course["id"], False), 409, "already-waitlisted")
    assert_problem(join(client, seated[0], course["id"]), 409, "already-enrolled")
    assert line(course["id"]) == [others[0]]


def test_put_for_a_waiting_student_is_409_already_waitlisted(client, full_course):
    course, _, others = full_course
    join(client, others[0], course["id"])

    response = client.put(f"/students/{others[0]}/courses/{course['id']}")

    assert_problem(response, 409, "already-waitlisted")
    assert line(course["id"]) == [others[0]]


@pytest.mark.parametrize("flag", [0, 1, "true", None, [True]])
def test_the_waitlist_flag_must_be_a_boolean(client, full_course, flag):
    course, _, others = full_course

    response = join(client, others[0], course["id"], waitlist=flag)

    problem = assert_problem(response, 422, "validation-error")
    assert "waitlist" in problem["errors"]


# -- Leaving and promotion --------------------------------------------------------------------


def test_a_drop_gives_the_seat_to_the_first_in_line(client, full_course):
    course, seated, others = full_course
    for student_id in others[:3]:
        join(client, student_id, course["id"])

    assert client.delete(f"/students/{seated[0]}/courses/{course['id']}").status_code == 204

    assert enrolled(course["id"]) == sorted([seated[1], others[0]])
    assert line(course["id"]) == others[1:3]
    assert events_of("promoted") == [(others[0], course["id"], "system", "seat-freed")]
    place = client.get(f"/students/{others[2]}/courses/{course['id']}").get_json()
    assert (place["status"], place["waitlist_position"]) == ("waitlisted", 2)


def test_leaving_the_line_moves_everyone_behind_up(client, full_course):
    course, _, others = full_course
    for student_id in others:
        join(client, student_id, course["id"])

    assert client.delete(f"/students/{others[1]}/courses/{course['id']}").status_code == 204

    assert line(course["id"]) == [others[0], others[2], others[3]]
    waitlist = client.get(f"/courses/{course['id']}/waitlist").get_json()
    assert [(s["id"], s["waitlist_position"]) for s in waitlist] == [
        (others[0], 1),
        (others[2], 2),
        (others[3], 3),
    ]
    assert events_of("left_waitlist") == [(others[1], course["id"], "api_key", None)]
    assert len(enrolled(course["id"])) == 2


def test_deleting_neither_enrolled_nor_waiting_is_404_not_enrolled(client, full_course):
    course, _, others = full_course

    response = client.delete(f"/students/{others[0]}/courses/{course['id']}")

    assert_problem(response, 404, "not-enrolled")


def test_deleting_a_student_frees_their_seat_and_their_places(client, make_student, make_course):
    a = make_course(capacity=1, waitlist_capacity=None)
    b = make_course(capacity=1, waitlist_capacity=None)
    leaving, waiting_a, holder_b = make_student()["id"], make_student()["id"], make_student()["id"]
    join(client, leaving, a["id"])
    join(client, waiting_a, a["id"])
    join(client, holder_b, b["id"])
    join(client, leaving, b["id"])

    assert client.delete(f"/students/{leaving}").status_code == 204

    assert enrolled(a["id"]) == [waiting_a]
    assert (enrolled(b["id"]), line(b["id"])) == ([holder_b], [])
    assert events_of("promoted") == [(waiting_a, a["id"], "system", "seat-freed")]
    assert events_of("left_waitlist") == [(leaving, b["id"], "api_key", "student-deleted")]
    assert (leaving, a["id"], "api_key", "student-deleted") in events_of("dropped")


def test_raising_the_capacity_promotes_the_first_in_line(client, full_course):
    course, _, others = full_course
    for student_id in others:
        join(client, student_id, course["id"])

    response = client.patch(f"/courses/{course['id']}", json={"capacity": 4})

    assert response.status_code == 200
    assert line(course["id"]) == others[2:]
    assert events_of("promoted") == [
        (others[0], course["id"], "system", "capacity-raised"),
        (others[1], course["id"], "system", "capacity-raised"),
    ]
    client.patch(f"/courses/{course['id']}", json={"capacity": None})
    assert line(course["id"]) == []
    assert len(enrolled(course["id"])) == 6


def test_history_shows_the_whole_way_through_the_line(client, full_course):
    course, seated, others = full_course
    join(client, others[0], course["id"])
    client.delete(f"/students/{seated[0]}/courses/{course['id']}")

    history = client.get(f"/students/{others[0]}/courses/{course['id']}/history").get_json()

    assert [(e["type"], e["actor"]["kind"], e["reason"]) for e in history] == [
        ("waitlisted", "api_key", None),
        ("promoted", "system", "seat-freed"),
    ]


# -- Reading ----------------------------------------------------------------------------------


def test_a_students_courses_by_status(client, full_course, make_course):
    course, _, others = full_course
    other_course = make_course()
    join(client, others[0], other_course["id"])
    join(client, others[0], course["id"])
    path = f"/students/{others[0]}/courses"

    enrolled_only = client.get(path).get_json()
    waiting = client.get(f"{path}?status=waitlisted")
    everything = client.get(f"{path}?status=all")

    assert [(c["id"], c["status"]) for c in enrolled_only] == [(other_course["id"], "enrolled")]
    assert waiting.headers["X-Total-Count"] == "1"
    assert [(c["id"], c["waitlist_position"]) for c in waiting.get_json()] == [(course["id"], 1)]
    assert "enrolled_at" not in waiting.get_json()[0]
    assert everything.headers["X-Total-Count"] == "2"
    assert [(c["id"], c["status"]) for c in everything.get_json()] == [
        (other_course["id"], "enrolled"),
        (course["id"], "waitlisted"),
    ]
    assert "waitlist_position" not in everything.get_json()[0]
    assert "enrolled_at" not in everything.get_json()[1]


@pytest.mark.parametrize("status", ["waiting", "", "ENROLLED"])
def test_an_unknown_status_is_422(client, full_course, status):
    _, seated, _ = full_course

    response = client.get(f"/students/{seated[0]}/courses?status={status}")

    assert_problem(response, 422, "validation-error")


def test_the_roster_lists_enrolled_students_only(client, full_course):
    course, seated, others = full_course
    join(client, others[0], course["id"])

    roster = client.get(f"/courses/{course['id']}/students").get_json()

    assert sorted(s["id"] for s in roster) == sorted(seated)


def test_the_waitlist_is_paginated_in_line_order(client, full_course):
    course, _, others = full_course
    for student_id in others:
        join(client, student_id, course["id"])

    response = client.get(f"/courses/{course['id']}/waitlist?limit=2&offset=2")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "4"
    body = response.get_json()
    assert [(s["id"], s["waitlist_position"]) for s in body] == [(others[2], 3), (others[3], 4)]
    assert list(body[0])[-3:] == ["waitlist_position", "waitlisted_at", "blocked_by"]
    assert body[0]["blocked_by"] == []


def test_the_waitlist_of_an_unknown_course_is_404(client):
    assert_problem(client.get("/courses/999/waitlist"), 404, "course-not-found")


def test_the_waitlist_is_for_admins_and_readers(app, full_course):
    course, seated, _ = full_course
    path = f"/courses/{course['id']}/waitlist"

    assert app.test_client(api_key=new_key(app, "reader")).get(path).status_code == 200
    student = app.test_client(api_key=new_key(app, "student", seated[0]))
    assert_problem(student.get(path), 403, "forbidden")


def test_a_student_key_can_join_and_leave_its_own_line(app, full_course):
    course, _, others = full_course
    client = app.test_client(api_key=new_key(app, "student", others[0]))

    assert join(client, others[0], course["id"]).status_code == 202
    assert client.delete(f"/students/{others[0]}/courses/{course['id']}").status_code == 204
    assert_problem(join(client, others[1], course["id"]), 403, "forbidden")
