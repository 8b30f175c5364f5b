"""A small world of students, courses and keys of every role, for the security tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from src.database import db
from src.models import ApiKey
from tests.conftest import new_key


@dataclass
class World:
    """Ids and keys: student A is enrolled in course C; course D has no students; term
    T has no courses; instructor I teaches course C, instructor J nothing; student
    E, who has no key, has hold H (so that A's and B's own enrollments and drops stay
    unblocked); A has a credit limit in term T, where A takes nothing."""

    student_a: int
    student_b: int
    course_c: int
    course_d: int
    term_t: int
    instructor_i: int
    instructor_j: int
    student_e: int
    hold_h: int
    keys: dict[str, str | None]


def client_with(app: Flask, key: str | None) -> FlaskClient:
    """A client that sends ``key`` (or no Authorization header at all)."""
    return app.test_client(api_key=key)


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    student = {"first_name": "Ada", "last_name": "L", "email": "a@example.edu"}
    a = client.post("/students", json=student).get_json()["id"]
    b = client.post("/students", json={**student, "email": "b@example.edu"}).get_json()["id"]
    c = client.post("/courses", json={"code": "C1", "title": "Enrolled"}).get_json()["id"]
    d = client.post("/courses", json={"code": "D1", "title": "Empty"}).get_json()["id"]
    assert client.post(f"/students/{a}/courses", json={"course_id": c}).status_code == 201
    term = {"code": "T1", "name": "Term", "starts_on": "2027-01-11", "ends_on": "2027-05-07"}
    t = client.post("/terms", json=term).get_json()["id"]
    teacher = {"first_name": "Alan", "last_name": "T", "email": "i@example.edu"}
    i = client.post("/instructors", json=teacher).get_json()["id"]
    j = client.post("/instructors", json={**teacher, "email": "j@example.edu"}).get_json()["id"]
    assert client.put(f"/courses/{c}/instructors/{i}", json={"role": "primary"}).status_code == 201
    hold = {"kind": "financial", "reason": "Unpaid fees", "blocks": ["registration", "drop"]}
    e = client.post("/students", json={**student, "email": "e@example.edu"}).get_json()["id"]
    h = client.post(f"/students/{e}/holds", json=hold).get_json()["id"]
    assert (
        client.put(f"/students/{a}/credit-limits/{t}", json={"max_credits": 18}).status_code == 201
    )
    revoked = new_key(app, "reader")
    with app.app_context():
        record = db.session.query(ApiKey).filter_by(prefix=revoked.split("_")[1]).one()
        record.revoked_at = db.func.now()
        db.session.commit()
    keys = {
        "none": None,
        "revoked": revoked,
        "reader": new_key(app, "reader"),
        "student_a": new_key(app, "student", a),
        "student_b": new_key(app, "student", b),
        "instructor_i": new_key(app, "instructor", instructor_id=i),
        "instructor_j": new_key(app, "instructor", instructor_id=j),
        "admin": app.config["TEST_API_KEY"],
    }
    return World(a, b, c, d, t, i, j, e, h, keys)
