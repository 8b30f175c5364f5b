"""``services.transaction``: the unit of work of the hot writes, outside the ORM session."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from src.extensions import db
from src.models import Student, StudentCourse
from src.services import execute, transaction

_students = Student.__table__


def _add(first_name: str) -> None:
    execute(
        insert(_students).values(
            first_name=first_name, last_name="T", email=f"{first_name}@example.edu"
        )
    )


def _count(app: Flask, table: Any = _students) -> int:
    # From a connection of its own: only what was committed.
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_block_is_committed_when_it_ends(app: Flask) -> None:
    with app.app_context():
        with transaction():
            _add("Ada")
        db.session.remove()
    assert _count(app) == 1


def _add_then_fail() -> None:
    with transaction():
        _add("Ada")
        raise RuntimeError("refused")


def _add_in_inner_block_then_fail() -> None:
    with transaction():
        with transaction():
            _add("Ada")
        raise RuntimeError("refused")


def test_the_block_is_rolled_back_when_it_raises(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(RuntimeError):
            _add_then_fail()
        db.session.remove()
    assert _count(app) == 0


def test_a_block_inside_another_is_part_of_it(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(RuntimeError):
            _add_in_inner_block_then_fail()
        db.session.remove()
    # Had the inner block's end committed, the outer rollback would leave the row.
    assert _count(app) == 0


@pytest.mark.postgresql
def test_enrolling_and_unenrolling_run_on_one_connection_outside_the_session(
    app: Flask, client: Any, make_student: Any, make_course: Any
) -> None:
    student, course = make_student(), make_course(capacity=1)
    other = make_student()
    with app.app_context():
        engine = db.engine
    session_connections: list[Any] = []
    statements: list[tuple[Any, str]] = []

    def on_begin(_session: Any, _transaction: Any, connection: Any) -> None:
        session_connections.append(connection.connection.dbapi_connection)

    def on_execute(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "student_courses" in statement:
            statements.append((connection.connection.dbapi_connection, statement))

    event.listen(Session, "after_begin", on_begin)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        enrolled = client.post(
            f"/students/{student['id']}/courses", json={"course_id": course["id"]}
        )
        full = client.post(f"/students/{other['id']}/courses", json={"course_id": course["id"]})
        again = client.put(f"/students/{student['id']}/courses/{course['id']}")
        dropped = client.delete(f"/students/{student['id']}/courses/{course['id']}")
    finally:
        event.remove(Session, "after_begin", on_begin)
        event.remove(engine, "before_cursor_execute", on_execute)
    assert (enrolled.status_code, full.status_code) == (201, 409)
    assert (again.status_code, dropped.status_code) == (200, 204)
    assert len(statements) >= 4
    assert not [s for connection, s in statements if connection in session_connections]
    assert _count(app, StudentCourse.__table__) == 0
