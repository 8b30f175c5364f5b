"""The hot paths serialise rows straight to JSON (src/api/fast.py): for each, the output
must equal what the schema's dump of the same rows gives, field for field and in order.

The reference is built the slow way: the list's own Core statements run through
SQLAlchemy (result processing, ``UTCDateTime``), then ``Schema(many=True).dump``
and Flask's JSON, as before the fast paths existed.
"""

from __future__ import annotations

import json

import pytest
from flask import json as flask_json
from webargs.flaskparser import FlaskParser

from src.database import db
from src.schemas import CourseSchema, EnrolledCourseSchema, EnrolledStudentSchema, StudentSchema
from src.services import courses, enrollments, students


def _slow(app, listing, params, schema, limit=20, offset=0, **extra):
    """The schema's dump of the page, through Flask's JSON encoder and back."""
    with app.app_context(), db.engine.connect() as connection:
        page = listing.query.limit(limit).offset(offset)
        rows = connection.execute(page, params).mappings().all()
        dumped = schema.dump([{**row, **extra} for row in rows])
    return json.loads(flask_json.dumps(dumped))


def _same(response, expected):
    body = json.loads(response.get_data())
    assert body == expected
    # Key order too: clients see the schemas' order.
    assert [list(item) for item in body] == [list(item) for item in expected]


@pytest.fixture
def world(make_student, make_course, client):
    """Students and courses with every kind of value: nulls, unicode, limits."""
    people = [
        make_student(first_name="Zoë", last_name="Ångström", email="zoe@example.edu"),
        make_student(first_name="Li", last_name="Wei", email="LI.Wei@Example.edu"),
        make_student(),
    ]
    classes = [
        make_course(title="Élan vital \u2013 ∑", description="Ünïcode\u2028line", capacity=None),
        make_course(description=None, capacity=3, waitlist_capacity=None),
        make_course(code="ab-12", credits=0, capacity=3, waitlist_capacity=4),
    ]
    for person in people:
        for course in classes:
            response = client.post(
                f"/students/{person['id']}/courses", json={"course_id": course["id"]}
            )
            assert response.status_code == 201
    return people, classes


def test_a_students_courses(app, client, world):
    people, _ = world
    for person in people:
        params = {"student_id": person["id"]}
        for limit, offset in ((20, 0), (2, 1), (1, 5)):
            response = client.get(f"/students/{person['id']}/courses?limit={limit}&offset={offset}")
            assert response.status_code == 200
            expected = _slow(
                app,
                enrollments._STUDENT_COURSES[False]["enrolled"],
                params,
                EnrolledCourseSchema(many=True),
                limit,
                offset,
            )
            _same(response, expected)
            assert response.headers["X-Total-Count"] == "3"


def test_course_and_student_lists(app, client, world):
    _, classes = world
    _same(
        client.get("/courses"), _slow(app, courses._listing((), None), {}, CourseSchema(many=True))
    )
    _same(
        client.get("/courses?code=AB-12"),
        _slow(app, courses._listing(("code",), None), {"code": "AB-12"}, CourseSchema(many=True)),
    )
    _same(
        client.get("/courses?has_seats=true&sort=-title"),
        _slow(
            app,
            courses._listing(("has_seats",), "-title"),
            {"has_seats": True},
            CourseSchema(many=True),
        ),
    )
    _same(
        client.get("/students?limit=2&offset=1"),
        _slow(app, students._listing((), None), {}, StudentSchema(many=True), 2, 1),
    )
    _same(
        client.get("/students?email=li.wei@example.EDU"),
        _slow(
            app,
            students._listing(("email",), None),
            {"email": "li.wei@example.edu"},
            StudentSchema(many=True),
        ),
    )
    assert client.get("/courses").headers["X-Total-Count"] == str(len(classes))


def test_a_roster(app, client, world):
    _, classes = world
    for course in classes:
        response = client.get(f"/courses/{course['id']}/students?limit=2")
        expected = _slow(
            app,
            enrollments._ROSTER,
            {"course_id": course["id"]},
            EnrolledStudentSchema(many=True),
            2,
        )
        _same(response, expected)
        assert response.headers["X-Total-Count"] == "3"


def test_an_enrollment_just_made(app, client, make_student, make_course):
    student = make_student()
    course = make_course(title="Ærø \u2013 ∞", description=None, capacity=None)

    response = client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})

    assert response.status_code == 201
    with app.app_context():
        row = enrollments.get_enrollment(student["id"], course["id"])
        expected = json.loads(flask_json.dumps(EnrolledCourseSchema().dump(row)))
        db.session.remove()
    _same_item = json.loads(response.get_data())
    assert _same_item == expected
    assert list(_same_item) == list(expected)


def test_empty_pages_and_missing_owners(client, world):
    people, _ = world

    past = client.get(f"/students/{people[0]['id']}/courses?offset=10")
    assert (past.status_code, past.get_json(), past.headers["X-Total-Count"]) == (200, [], "3")
    assert client.get("/courses?code=NOPE").get_json() == []
    assert client.get("/courses?code=NOPE").headers["X-Total-Count"] == "0"
    assert client.get("/students/999999/courses").status_code == 404
    assert client.get("/courses/999999/students").status_code == 404


def test_a_first_pages_query_defaults_are_loaded_once(client, make_course, monkeypatch):
    make_course()
    loads: list[str] = []
    parse = FlaskParser.parse

    def counted(self, argmap, req=None, *, location=None, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(location)
        return parse(self, argmap, req, location=location, **kwargs)

    monkeypatch.setattr(FlaskParser, "parse", counted)

    first = client.get("/courses")
    second = client.get("/courses")
    paged = client.get("/courses?limit=1")

    assert [r.status_code for r in (first, second, paged)] == [200, 200, 200]
    assert len(second.get_json()) == 1
    assert paged.headers["X-Total-Count"] == "1"
    # The first page's defaults come from the parser's memory after the first load (or
    # already before it, from an earlier test); a query string is always loaded.
    assert loads.count("query") <= 2
    assert loads[-1] == "query"
