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
