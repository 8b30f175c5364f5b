"""Uniqueness holds when requests race: the database's constraints are the guard."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from src.database import db
from src.models import Course, Student


def race(app: Flask, requests: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    """Send ``requests`` from as many threads at once; return the responses in order."""
    barrier = Barrier(len(requests))
    # End the test's own transaction first: on SQLite an open one holds the write lock.
    db.session.close()

    def send(request: tuple[str, str, dict[str, Any]]) -> Any:
        method, path, body = request
        client = app.test_client()
        barrier.wait()
        return client.open(path, method=method, json=body)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def test_racing_creates_with_one_email_make_one_student(app):
    bodies = [
        {
            "first_name": "A",
            "last_name": str(n),
            "email": "race@example.edu" if n % 2 else "RACE@example.edu",
        }
        for n in range(10)
    ]

    responses = race(app, [("POST", "/students", body) for body in bodies])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9, [r.get_json() for r in responses]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Student)) == 1


def test_racing_creates_with_one_code_in_different_cases_make_one_course(app):
    codes = ["cs9", "CS9", "Cs9", "cS9"] * 2

    responses = race(app, [("POST", "/courses", {"code": c, "title": "T"}) for c in codes])

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert all(
        r.get_json()["type"].endswith("course-code-taken")
        for r in responses
        if r.status_code == 409
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Course)) == 1


def test_racing_creates_of_one_code_in_a_term_make_one_course_there(app, client):
    term = client.post(
        "/terms",
        json={"code": "T", "name": "T", "starts_on": "2027-01-11", "ends_on": "2027-05-07"},
    ).get_json()
    body = {"code": "cs9", "title": "T", "term_id": term["id"]}

    # Four in the term, four in the default term: one of each is made.
    default = {"code": "CS9", "title": "T"}
    responses = race(app, [("POST", "/courses", body)] * 4 + [("POST", "/courses", default)] * 4)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201] + [409] * 6, [r.get_json() for r in responses]


def test_racing_primary_assignments_leave_one_primary(app, client):
    course = client.post("/courses", json={"code": "P1", "title": "T"}).get_json()
    teachers = [
        client.post(
            "/instructors",
            json={"first_name": "T", "last_name": str(n), "email": f"t{n}@example.edu"},
        ).get_json()
        for n in range(6)
    ]

    responses = race(
        app,
        [
            ("PUT", f"/courses/{course['id']}/instructors/{t['id']}", {"role": "primary"})
            for t in teachers
        ],
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    listed = client.get(f"/courses/{course['id']}/instructors").get_json()
    assert [i["role"] for i in listed] == ["primary"]


def test_racing_default_moves_leave_one_default(app, client):
    terms = [
        client.post(
            "/terms",
            json={"code": f"M{n}", "name": "T", "starts_on": "2027-01-11", "ends_on": "2027-05-07"},
        ).get_json()
        for n in range(6)
    ]

    responses = race(app, [("PATCH", f"/terms/{t['id']}", {"is_default": True}) for t in terms])

    assert all(r.status_code == 200 for r in responses)
    defaults = [t for t in client.get("/terms").get_json() if t["is_default"]]
    assert len(defaults) == 1
