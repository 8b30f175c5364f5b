"""The benchmark's floor answers exactly as the service does, or the ratio means nothing."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from bench import floor


@pytest.fixture
def floor_client(database_url, monkeypatch):
    monkeypatch.setenv("FLOOR_DATABASE_URL", database_url.replace("+psycopg2", ""))
    monkeypatch.setattr(floor, "_connection", None)
    yield Client(floor.app)
    if floor._connection is not None:
        floor._connection.close()


@pytest.mark.postgresql
def test_the_floor_answers_like_the_service(client, make_student, make_course, floor_client):
    student = make_student()
    courses = [make_course(capacity=5), make_course()]
    for course in courses:
        client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    spare = make_course()

    for path in (f"/students/{student['id']}/courses", "/courses", "/students/999999/courses"):
        ours, theirs = client.get(path), floor_client.get(path)
        assert (theirs.status_code, theirs.get_json()) == (ours.status_code, ours.get_json()), path
    assert (
        floor_client.get("/courses").headers["X-Total-Count"]
        == client.get("/courses").headers["X-Total-Count"]
    )

    enrolled = floor_client.post(
        f"/students/{student['id']}/courses", json={"course_id": spare["id"]}
    )
    assert enrolled.status_code == 201
    expected = client.get(f"/students/{student['id']}/courses/{spare['id']}").get_json()
    assert enrolled.get_json() == expected
    assert enrolled.headers["Location"] == f"/students/{student['id']}/courses/{spare['id']}"
    again = floor_client.post(f"/students/{student['id']}/courses", json={"course_id": spare["id"]})
    assert again.status_code == 409
    assert (
        floor_client.delete(f"/students/{student['id']}/courses/{spare['id']}").status_code == 204
    )
    assert (
        floor_client.delete(f"/students/{student['id']}/courses/{spare['id']}").status_code == 404
    )
