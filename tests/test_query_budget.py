"""How many SQL statements each request sends, beyond authenticating its key.

The hot paths have fixed budgets whatever the page size, and no request path may
lazy-load a relationship (conftest makes a lazy load raise).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from src.database import db

#: Authenticating a key is one SELECT of api_keys when the worker has not verified it in
#: the last second (its last_used_at is written once a minute); budgets leave it out.
KEY_LOOKUP = "FROM api_keys"


@contextmanager
def count_statements(app) -> Iterator[list[str]]:
    """Collect the SQL statements (and commits) the app's engine sends meanwhile."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def on_execute(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def on_commit(conn):  # type: ignore[no-untyped-def]
        statements.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def event_statements(app) -> int:
    """Statements a change spends on recording its event: none on PostgreSQL, where
    the event rides in the change's own statement, one on SQLite, which has no
    data-modifying CTE (and no round trip to save: it runs in process)."""
    with app.app_context():
        return 0 if db.engine.dialect.name == "postgresql" else 1


def _without_sqlite_begin(statements: list[str]) -> list[str]:
    # SQLite's BEGIN IMMEDIATE is ours (src/models/base.py); PostgreSQL's BEGIN is implicit.
    return [s for s in statements if s != "BEGIN IMMEDIATE"]


def budget_of(app, client, method: str, path: str, **kwargs) -> tuple[int, list[str]]:
    client.get("/health/live")  # nothing pending
    with count_statements(app) as statements:
        response = client.open(path, method=method, **kwargs)
    assert response.status_code < 400, response.get_data(as_text=True)
    sent = [s for s in _without_sqlite_begin(statements) if KEY_LOOKUP not in s]
    return len(sent), sent


@pytest.fixture
def enrolled(client, make_student, make_course):
    """A student enrolled in 30 courses, and a course with 30 students."""
    student = make_student()
    courses = [make_course() for _ in range(30)]
    for course in courses:
        client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    for _ in range(29):
        other = make_student()
        client.post(f"/students/{other['id']}/courses", json={"course_id": courses[0]["id"]})
    # Touch the key now, so its once-a-minute last_used_at write stays out of the counts.
    client.get("/courses")
    return student, courses


@pytest.mark.parametrize("limit", [1, 10, 30, 100])
def test_a_students_courses_cost_one_statement_whatever_the_page(app, client, enrolled, limit):
    student, _ = enrolled

    spent, sent = budget_of(app, client, "GET", f"/students/{student['id']}/courses?limit={limit}")

    # The 404 check, the total and the page are one statement.
    assert spent <= 1, sent


def test_an_unknown_students_courses_cost_one_statement(app, client, enrolled):
    client.get("/health/live")
    with count_statements(app) as statements:
        response = client.get("/students/999999/courses")

    assert response.status_code == 404
    sent = [s for s in _without_sqlite_begin(statements) if KEY_LOOKUP not in s]
    assert len(sent) <= 1, sent


@pytest.mark.parametrize(
    "path",
    [
        "/students?limit=100",
        "/students?limit=5&offset=5",
        "/courses?limit=100",
        "/courses?limit=5&offset=5",
        "/courses/{course}/students?limit=100",
        "/courses/{course}/students?limit=5&offset=5",
    ],
)
def test_every_list_costs_one_statement(app, client, enrolled, path):
    _, courses = enrolled

    spent, sent = budget_of(app, client, "GET", path.format(course=courses[0]["id"]))

    # The page and the total (and a roster's 404 check) are one statement.
    assert spent <= 1, sent


def test_enrolling_costs_three_statements_with_the_commit(app, client, enrolled, make_course):
    student, _ = enrolled
    course = make_course(capacity=100)
    client.get("/courses")

    spent, sent = budget_of(
        app, client, "POST", f"/students/{student['id']}/courses", json={"course_id": course["id"]}
    )

    # Lock, insert-if-room (and its event) and commit are all it takes.
    assert spent <= 3 + event_statements(app), sent
    assert sent[-1] == "COMMIT"


def test_unenrolling_costs_at_most_three_statements_with_the_commit(app, client, enrolled):
    student, courses = enrolled

    spent, sent = budget_of(
        app, client, "DELETE", f"/students/{student['id']}/courses/{courses[1]['id']}"
    )

    # Lock the course (a freed seat goes to the first in line before anyone else can
    # see it), delete with its event, commit; a course without a waitlist needs no more.
    # On PostgreSQL the lock, the delete and its event are one statement.
    if event_statements(app) == 0:  # PostgreSQL
        assert spent <= 2, sent
    else:
        assert spent <= 3 + event_statements(app), sent
    assert sent[-1] == "COMMIT"


@pytest.mark.parametrize(
    "path", ["/students/{student}", "/courses/{course}", "/students/{student}/courses/{course}"]
)
def test_reading_one_thing_costs_one_statement(app, client, enrolled, path):
    student, courses = enrolled
    target = path.format(student=student["id"], course=courses[0]["id"])

    spent, sent = budget_of(app, client, "GET", target)

    assert spent <= 1, sent


def test_enrolling_again_with_put_costs_three_statements_on_postgresql_four_on_sqlite(
    app, client, enrolled
):
    student, courses = enrolled

    spent, sent = budget_of(
        app, client, "PUT", f"/students/{student['id']}/courses/{courses[0]['id']}"
    )

    # Lock, then insert-or-find (on PostgreSQL one statement; on SQLite the insert
    # finds nothing to do and a read follows), and commit.
    assert spent <= (3 if event_statements(app) == 0 else 4), sent


def test_refusing_a_full_course_costs_two_statements_on_postgresql_three_on_sqlite(
    app, client, make_student, make_course
):
    course = make_course(capacity=1)
    client.post(f"/students/{make_student()['id']}/courses", json={"course_id": course["id"]})
    student = make_student()
    client.get("/courses")

    with count_statements(app) as statements:
        response = client.post(
            f"/students/{student['id']}/courses", json={"course_id": course["id"]}
        )

    assert response.status_code == 409, response.get_data(as_text=True)
    sent = [s for s in _without_sqlite_begin(statements) if KEY_LOOKUP not in s]
    # The lock, then the insert that finds no room and, in the same statement on
    # PostgreSQL, no earlier enrollment of the student; nothing to commit.
    assert len(sent) == (2 if event_statements(app) == 0 else 3), sent
    assert "COMMIT" not in sent
