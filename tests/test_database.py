"""The data layer (``src.database``): transactions, statements alone, the two forms of a
statement, and the ORM session refused inside a transaction."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, func, insert, literal, select
from sqlalchemy.orm import Session

from src.database import SessionMisuse, Statement, db, savepoint, transaction
from src.models import Course, Student, StudentCourse

_students = Student.__table__
_ADD = Statement(
    insert(_students).values(
        first_name=bindparam("first_name"), last_name="T", email=bindparam("email")
    )
)


def _add(first_name: str) -> None:
    _ADD.run({"first_name": first_name, "email": f"{first_name}@example.edu"})


def _count(app: Flask, table: Any = _students) -> int:
    # From a connection of its own: only what was committed.
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_block_is_committed_when_it_ends(app: Flask) -> None:
    with app.app_context(), transaction():
        _add("Ada")
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
    with app.app_context(), pytest.raises(RuntimeError):
        _add_then_fail()
    assert _count(app) == 0


def test_a_block_inside_another_is_part_of_it(app: Flask) -> None:
    with app.app_context(), pytest.raises(RuntimeError):
        _add_in_inner_block_then_fail()
    # Had the inner block's end committed, the outer rollback would leave the row.
    assert _count(app) == 0


def test_the_outermost_block_may_roll_back_without_raising(app: Flask) -> None:
    with app.app_context():
        with transaction() as block:
            _add("Ada")
            block.rollback()
        with transaction(), pytest.raises(RuntimeError), transaction() as inner:
            inner.rollback()
    assert _count(app) == 0


def _add_in_savepoint_then_fail() -> None:
    with savepoint():
        _add("Grace")
        raise RuntimeError("refused")


def test_a_savepoint_undoes_its_part_alone(app: Flask) -> None:
    with app.app_context(), transaction():
        _add("Ada")
        with pytest.raises(RuntimeError):
            _add_in_savepoint_then_fail()
    assert _count(app) == 1


def test_a_write_outside_a_block_is_a_transaction_of_its_own(app: Flask) -> None:
    with app.app_context():
        _add("Ada")
    assert _count(app) == 1


def test_a_statement_takes_its_postgresql_form_there_and_its_portable_form_elsewhere(
    app: Flask,
) -> None:
    which = Statement(select(literal("portable")), postgresql=select(literal("postgresql")))
    steps = Statement(lambda params: [{"n": params["n"] + 1}], postgresql=select(literal(2)))
    with app.app_context():
        expected = db.engine.dialect.name if db.engine.dialect.name == "postgresql" else "portable"
        assert which.scalar() == expected
        assert steps.scalar({"n": 1}) == 2


def _use_the_session(use: str) -> None:
    with transaction():
        if use == "read":
            db.session.get(Course, 1)
        elif use == "add":
            db.session.add(Course(code="X1", title="Lost"))
            db.session.flush()
        else:
            db.session.execute(select(literal(1)))


@pytest.mark.parametrize("use", ["read", "add", "execute"])
def test_the_orm_session_inside_a_block_fails_loudly(app: Flask, use: str) -> None:
    with app.app_context(), pytest.raises(SessionMisuse):
        _use_the_session(use)
    with app.app_context():
        db.session.remove()
    assert _count(app, Course.__table__) == 0


def test_the_orm_session_outside_a_block_is_the_tests_to_use(app: Flask) -> None:
    with app.app_context():
        db.session.add(Course(code="X1", title="Kept"))
        db.session.commit()
        db.session.remove()
    assert _count(app, Course.__table__) == 1


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


@pytest.mark.postgresql
@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_the_services_statements_run_without_jit(database_url: str, pooler: str) -> None:
    """JIT compiled the registration rules' statement for 350 ms (src/database/connections.py):
    off on every connection, and in every transaction behind a transaction pooler."""
    from sqlalchemy import text

    from tests.conftest import make_app

    app = make_app(database_url, DATABASE_POOLER=pooler)
    with app.app_context():
        alone = Statement(text("SHOW jit")).scalar()
        with transaction():
            inside = Statement(text("SHOW jit")).scalar()
        db.engine.dispose()

    assert (alone, inside) == ("off", "off")
