"""Dropping and withdrawing: the term's drop and withdraw deadlines decide what leaving
a course is (src/services/enrollments.py, ``unenroll``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from src.database import db
from src.models import EnrollmentEvent, StudentCourse, Withdrawal
from tests.conftest import assert_problem, new_key

PAST = {"code": "2026-FA", "name": "Fall", "starts_on": "2026-08-31", "ends_on": "2026-12-18"}
NEXT = {"code": "2027-SP", "name": "Spring", "starts_on": "2027-01-11", "ends_on": "2027-05-07"}


def instant(days: float) -> str:
    """An ISO 8601 instant ``days`` from now."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.fixture
def make_term(client):
    """A term with the given registration dates (the other fields from ``NEXT``)."""

    def make(base: dict = NEXT, **dates):
        response = client.post("/terms", json={**base, **dates})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def student(make_student):
    return make_student()


@pytest.fixture
def own(app, student):
    """The student's own key."""
    return app.test_client(api_key=new_key(app, "student", student["id"]))


def offer(client, term, **fields):
    body = {"code": "BIO110", "title": "Biology", "term_id": term["id"], **fields}
    response = client.post("/courses", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def enroll(client, student, course, **body):
    response = client.post(
        f"/students/{student['id']}/courses", json={"course_id": course["id"], **body}
    )
    assert response.status_code in (201, 202), response.get_json()
    return response.get_json()


def leave(client, student, course):
    return client.delete(f"/students/{student['id']}/courses/{course['id']}")


def courses(client, student, status, **query):
    response = client.get(
        f"/students/{student['id']}/courses", query_string={"status": status, **query}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def events_of(app, student, course) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(EnrollmentEvent.type)
                .where(
                    EnrollmentEvent.student_id == student["id"],
                    EnrollmentEvent.course_id == course["id"],
                )
                .order_by(EnrollmentEvent.id)
            )
        )


def withdrawals(app) -> list[tuple[int, int]]:
    with app.app_context():
        return [
            (row.student_id, row.course_id)
            for row in db.session.scalars(select(Withdrawal).order_by(Withdrawal.id))
        ]


def enrolled(app, student, course) -> bool:
    with app.app_context():
        return db.session.get(StudentCourse, (student["id"], course["id"])) is not None


@pytest.mark.parametrize(
    "dates",
    [{}, {"drop_deadline": instant(3), "withdraw_deadline": instant(6)}],
    ids=["no-deadlines", "before-the-drop-deadline"],
)
def test_before_the_drop_deadline_leaving_is_a_drop_that_leaves_no_record(
    app, client, own, make_term, student, dates
):
    course = offer(client, make_term(**dates))
    enroll(own, student, course)

    assert leave(own, student, course).status_code == 204

    assert not enrolled(app, student, course)
    assert events_of(app, student, course) == ["enrolled", "dropped"]
    assert withdrawals(app) == []
    assert courses(own, student, "withdrawn") == []
    assert courses(own, student, "all") == []
    assert_problem(
        own.get(f"/students/{student['id']}/courses/{course['id']}"), 404, "not-enrolled"
    )


def test_after_the_drop_deadline_leaving_is_a_withdrawal_kept_on_the_record(
    app, client, own, make_term, student
):
    # No add deadline: the window is still open after the drop deadline.
    term = make_term(drop_deadline=instant(-1), withdraw_deadline=instant(5))
    course = offer(client, term)
    enrolled_at = enroll(own, student, course)["enrolled_at"]

    assert leave(own, student, course).status_code == 204

    assert not enrolled(app, student, course)
    assert events_of(app, student, course) == ["enrolled", "withdrawn"]
    assert withdrawals(app) == [(student["id"], course["id"])]
    [shown] = courses(own, student, "withdrawn")
    assert shown["id"] == course["id"]
    assert shown["status"] == "withdrawn"
    assert shown["enrolled_at"] == enrolled_at
    assert shown["withdrawn_at"] >= enrolled_at
    assert "waitlist_position" not in shown
    assert courses(own, student, "enrolled") == []
    assert courses(own, student, "all") == [shown]
    assert courses(own, student, "withdrawn", term_id=term["id"]) == [shown]
    default_term = client.get("/terms").get_json()[0]
    assert courses(own, student, "withdrawn", term_id=default_term["id"]) == []
    one = own.get(f"/students/{student['id']}/courses/{course['id']}")
    assert one.status_code == 200
    assert one.get_json() == shown
    # The seat is free: the course counts nobody.
    assert client.get(f"/courses/{course['id']}").get_json()["enrolled_count"] == 0
    history = client.get(f"/students/{student['id']}/courses/{course['id']}/history")
    assert [event["type"] for event in history.get_json()] == ["enrolled", "withdrawn"]
    # Leaving again: nothing to leave.
    assert_problem(leave(own, student, course), 404, "not-enrolled")


def test_a_withdrawal_frees_the_seat_for_the_first_in_line(
    app, client, own, make_term, make_student, student
):
    course = offer(
        client,
        make_term(drop_deadline=instant(-1), withdraw_deadline=instant(5)),
        capacity=1,
        waitlist_capacity=5,
    )
    enroll(own, student, course)
    other = make_student()
    assert enroll(client, other, course, waitlist=True)["status"] == "waitlisted"

    assert leave(own, student, course).status_code == 204

    assert enrolled(app, other, course)
    assert events_of(app, other, course) == ["waitlisted", "promoted"]
    assert events_of(app, student, course) == ["enrolled", "withdrawn"]


def test_after_the_withdraw_deadline_the_students_key_is_refused_and_nothing_changes(
    app, client, own, make_term, student
):
    term = make_term(drop_deadline=instant(-3), withdraw_deadline=instant(-1))
    course = offer(client, term)
    enroll(client, student, course)

    body = assert_problem(leave(own, student, course), 409, "withdraw-deadline-passed")

    assert "withdraw deadline" in body["detail"]
    assert enrolled(app, student, course)
    assert events_of(app, student, course) == ["enrolled"]
    assert withdrawals(app) == []


def test_after_the_withdraw_deadline_a_course_not_taken_is_still_404(
    client, own, make_term, student
):
    course = offer(client, make_term(drop_deadline=instant(-3), withdraw_deadline=instant(-1)))

    assert_problem(leave(own, student, course), 404, "not-enrolled")


@pytest.mark.parametrize(
    ("dates", "event"),
    [
        ({"drop_deadline": instant(2), "withdraw_deadline": instant(4)}, "dropped"),
        ({"drop_deadline": instant(-2), "withdraw_deadline": instant(4)}, "withdrawn"),
        ({"drop_deadline": instant(-4), "withdraw_deadline": instant(-2)}, "withdrawn"),
        ({"drop_deadline": instant(-4)}, "withdrawn"),
    ],
    ids=["before-drop", "before-withdraw", "after-withdraw", "no-withdraw-deadline"],
)
def test_an_admin_drops_before_the_drop_deadline_and_withdraws_after_it_at_any_time(
    app, client, make_term, student, dates, event
):
    course = offer(client, make_term(**dates))
    enroll(client, student, course)

    assert leave(client, student, course).status_code == 204

    assert events_of(app, student, course) == ["enrolled", event]
    assert len(withdrawals(app)) == (event == "withdrawn")


def test_a_student_withdraws_without_a_withdraw_deadline(app, client, own, make_term, student):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(own, student, course)

    assert leave(own, student, course).status_code == 204

    assert events_of(app, student, course) == ["enrolled", "withdrawn"]


def test_a_student_enrolls_again_after_withdrawing_while_the_window_is_open(
    app, client, own, make_term, student
):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(own, student, course)
    assert leave(own, student, course).status_code == 204

    again = own.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})

    assert again.status_code == 201, again.get_json()
    assert [row["status"] for row in courses(own, student, "all")] == ["enrolled", "withdrawn"]
    assert [row["status"] for row in courses(own, student, "enrolled")] == ["enrolled"]
    one = own.get(f"/students/{student['id']}/courses/{course['id']}").get_json()
    assert one["status"] == "enrolled"
    assert events_of(app, student, course) == ["enrolled", "withdrawn", "enrolled"]


def test_a_withdrawn_course_is_no_prerequisite(app, client, make_term, student):
    earlier = offer(client, make_term(PAST, drop_deadline=instant(-1)), code="BIO100")
    later = offer(client, make_term(), code="BIO200", prerequisites=["BIO100"])
    enroll(client, student, earlier)
    assert leave(client, student, earlier).status_code == 204

    refused = client.post(f"/students/{student['id']}/courses", json={"course_id": later["id"]})

    body = assert_problem(refused, 409, "prerequisite-missing")
    assert body["errors"][0]["codes"] == ["BIO100"]


def test_a_hold_on_drops_keeps_the_student_from_withdrawing(app, client, own, make_term, student):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(client, student, course)
    hold = {"kind": "financial", "reason": "Unpaid fees", "blocks": ["drop"]}
    assert client.post(f"/students/{student['id']}/holds", json=hold).status_code == 201

    assert_problem(leave(own, student, course), 409, "hold-active")

    assert enrolled(app, student, course)
    assert withdrawals(app) == []


def test_leaving_a_waitlist_is_never_bound_by_the_deadlines(
    app, client, own, make_term, make_student, student
):
    term = make_term(drop_deadline=instant(-3), withdraw_deadline=instant(-1))
    course = offer(client, term, capacity=1, waitlist_capacity=5)
    enroll(client, make_student(), course)
    enroll(client, student, course, waitlist=True)

    assert leave(own, student, course).status_code == 204

    assert events_of(app, student, course) == ["waitlisted", "left_waitlist"]
    assert withdrawals(app) == []


def test_a_course_with_a_withdrawal_stays_on_the_record(app, client, make_term, student):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(client, student, course)
    assert leave(client, student, course).status_code == 204

    body = assert_problem(client.delete(f"/courses/{course['id']}"), 409, "course-has-enrollments")

    assert "withdrawals" in body["detail"]
    assert withdrawals(app) == [(student["id"], course["id"])]


def test_deleting_the_student_deletes_their_withdrawals(app, client, make_term, student):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(client, student, course)
    assert leave(client, student, course).status_code == 204

    assert client.delete(f"/students/{student['id']}").status_code == 204

    assert withdrawals(app) == []
    assert client.delete(f"/courses/{course['id']}").status_code == 204


def test_the_feed_shows_withdrawals(client, make_term, student):
    course = offer(client, make_term(drop_deadline=instant(-1)))
    enroll(client, student, course)
    assert leave(client, student, course).status_code == 204

    feed = client.get("/events").get_json()

    assert [event["type"] for event in feed["events"]] == ["enrolled", "withdrawn"]


def test_an_unknown_status_names_the_known_ones(client, student):
    response = client.get(f"/students/{student['id']}/courses", query_string={"status": "gone"})

    body = assert_problem(response, 422, "validation-error")
    assert "withdrawn" in str(body["errors"])


def test_a_course_with_a_withdrawal_stays_in_its_term(app, client, make_term, student):
    term = make_term(drop_deadline=instant(-1))
    course = offer(client, term)
    enroll(client, student, course)
    assert leave(client, student, course).status_code == 204
    other = make_term(PAST)

    moved = client.patch(f"/courses/{course['id']}", json={"term_id": other["id"]})

    assert_problem(moved, 409, "course-has-enrollments")
    assert client.get(f"/courses/{course['id']}").get_json()["term_id"] == term["id"]
