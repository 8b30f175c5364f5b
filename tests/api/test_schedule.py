"""A student's schedule: JSON, and an iCalendar file that calendar parsers read back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from icalendar import Calendar

from tests.conftest import assert_problem

FALL = {"code": "2027-FA", "name": "Fall 2027", "starts_on": "2027-09-01", "ends_on": "2027-12-17"}
LECTURE = {"days": ["MO", "WE"], "starts_at": "09:00", "ends_at": "10:15", "room": "ENG 101"}
LAB = {"days": ["FR"], "starts_at": "14:00", "ends_at": "16:30", "room": None}


@pytest.fixture
def fall(client):
    return client.post("/terms", json=FALL).get_json()


@pytest.fixture
def enrolled(client, fall, make_student, make_course):
    """A student in two fall courses and one course of the default term."""
    student = make_student()
    cs = make_course(code="CS101", title="Intro", term_id=fall["id"], meetings=[LECTURE, LAB])
    math = make_course(code="MATH1", title="Calculus", term_id=fall["id"], meetings=[])
    other = make_course(code="CS101", title="Intro", meetings=[LECTURE])
    for course in (cs, math, other):
        response = client.post(
            f"/students/{student['id']}/courses", json={"course_id": course["id"]}
        )
        assert response.status_code == 201
    return student, cs, math, other


def test_the_schedule_of_a_term_as_json(client, fall, enrolled):
    student, cs, math, _ = enrolled

    response = client.get(f"/students/{student['id']}/schedule?term_id={fall['id']}")

    assert response.status_code == 200
    body = response.get_json()
    assert body["term"] == client.get(f"/terms/{fall['id']}").get_json()
    assert [c["id"] for c in body["courses"]] == [cs["id"], math["id"]]
    assert body["courses"][0]["meetings"] == [LECTURE, LAB]
    assert body["courses"][0]["status"] == "enrolled"


def test_without_a_term_it_is_the_default_terms(client, enrolled):
    student, _, _, other = enrolled

    body = client.get(f"/students/{student['id']}/schedule").get_json()

    assert body["term"]["is_default"] is True
    assert [c["id"] for c in body["courses"]] == [other["id"]]


def test_the_schedule_as_an_icalendar_file(client, fall, enrolled):
    student, *_ = enrolled

    response = client.get(
        f"/students/{student['id']}/schedule?term_id={fall['id']}",
        headers={"Accept": "text/calendar"},
    )

    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "2027-FA" in response.headers["Content-Disposition"]
    calendar = Calendar.from_ical(response.get_data())
    events = calendar.walk("VEVENT")
    assert len(events) == 2  # the lecture and the lab; Calculus has no meetings
    lecture, lab = sorted(events, key=lambda e: e.decoded("dtstart"))
    # 2027-09-01 is a Wednesday: the lecture's first meeting; the lab's is Friday the 3rd.
    assert lecture.decoded("dtstart") == datetime(2027, 9, 1, 9, 0)
    assert lecture.decoded("dtend") == datetime(2027, 9, 1, 10, 15)
    assert lab.decoded("dtstart") == datetime(2027, 9, 3, 14, 0)
    assert str(lecture["summary"]) == "CS101 Intro"
    assert str(lecture["location"]) == "ENG 101"
    assert "location" not in lab
    rule = lecture["rrule"]
    assert rule["FREQ"] == ["WEEKLY"]
    assert rule["BYDAY"] == ["MO", "WE"]
    assert rule["UNTIL"][0].date() == date(2027, 12, 17)
    assert len({str(e["uid"]) for e in events}) == 2
    assert str(calendar["version"]) == "2.0"
    # The same download again: the same events, so a re-import updates them in place.
    again = Calendar.from_ical(
        client.get(
            f"/students/{student['id']}/schedule?term_id={fall['id']}",
            headers={"Accept": "text/calendar"},
        ).get_data()
    )
    assert {str(e["uid"]) for e in again.walk("VEVENT")} == {str(e["uid"]) for e in events}


def test_json_is_the_default_answer(client, enrolled):
    student, *_ = enrolled

    response = client.get(
        f"/students/{student['id']}/schedule", headers={"Accept": "text/html, */*;q=0.1"}
    )

    assert response.mimetype == "application/json"


def test_unknown_student_or_term_is_404(client, enrolled):
    student, *_ = enrolled

    assert_problem(client.get("/students/999/schedule"), 404, "student-not-found")
    assert_problem(
        client.get(f"/students/{student['id']}/schedule?term_id=999"), 404, "term-not-found"
    )
    response = client.get(f"/students/{student['id']}/schedule?term_id=x")
    assert "term_id" in assert_problem(response, 422, "validation-error")["errors"]
