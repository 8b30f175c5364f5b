"""Alembic owns the schema: upgrade, downgrade and the models all agree."""

from __future__ import annotations

import io
import re
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from src.database import db
from src.health import migration_script
from src.models import Base
from tests.conftest import alembic_config


def test_upgrade_downgrade_upgrade(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)

    command.upgrade(config, "head")
    assert {"students", "courses", "student_courses"} <= set(inspect(engine).get_table_names())
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert {"students", "courses"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_agree(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()

    assert differences == []


def test_alembic_check_passes(database_url):
    command.check(alembic_config(database_url))


#: The columns of the baseline's tables: later migrations may add columns, and must
#: keep these as they were.
BASELINE_COLUMNS = {
    "students": "id, first_name, last_name, email, created_at, updated_at",
    "courses": "id, code, title, description, credits, capacity, created_at, updated_at",
}


def _rows(engine, table: str) -> list[tuple]:
    query = text(f"SELECT {BASELINE_COLUMNS[table]} FROM {table} ORDER BY id")
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(query)]


def test_enrollment_migration_keeps_every_existing_row(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, "20230901_baseline")
    with engine.begin() as connection:
        for n in range(1, 51):
            connection.execute(
                text(
                    "INSERT INTO students (first_name, last_name, email) "
                    "VALUES ('First', :last, :email)"
                ),
                {"last": f"Last {n}", "email": f"s{n}@example.edu"},
            )
        for n in range(1, 11):
            connection.execute(
                text("INSERT INTO courses (code, title, capacity) VALUES (:code, 'T', :cap)"),
                {"code": f"C{n}", "cap": n if n % 2 else None},
            )
    students, courses = _rows(engine, "students"), _rows(engine, "courses")

    command.upgrade(config, "head")
    assert (_rows(engine, "students"), _rows(engine, "courses")) == (students, courses)
    assert "student_courses" in inspect(engine).get_table_names()
    command.downgrade(config, "20230901_baseline")
    assert (_rows(engine, "students"), _rows(engine, "courses")) == (students, courses)
    assert "student_courses" not in inspect(engine).get_table_names()
    command.upgrade(config, "head")
    assert (_rows(engine, "students"), _rows(engine, "courses")) == (students, courses)
    engine.dispose()


def test_student_courses_schema(database_url):
    engine = create_engine(database_url)
    inspector = inspect(engine)

    assert inspector.get_pk_constraint("student_courses")["constrained_columns"] == [
        "student_id",
        "course_id",
    ]
    foreign_keys = {
        fk["constrained_columns"][0]: fk["options"].get("ondelete")
        for fk in inspector.get_foreign_keys("student_courses")
    }
    assert foreign_keys == {"student_id": "CASCADE", "course_id": "RESTRICT"}
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("student_courses")}
    # Rosters: by course, in enrollment order (it also serves the course foreign key).
    assert indexes == {
        "ix_student_courses_course_id_enrolled_at_student_id": [
            "course_id",
            "enrolled_at",
            "student_id",
        ]
    }
    engine.dispose()


def offline_sql(upgrade: str, downgrade: str) -> str:
    """The SQL of an upgrade and a downgrade range, rendered for PostgreSQL offline
    (without connecting to any database)."""
    config = alembic_config("postgresql+psycopg2://offline/registrar")
    config.output_buffer = io.StringIO()
    command.upgrade(config, upgrade, sql=True)
    command.downgrade(config, downgrade, sql=True)
    return config.output_buffer.getvalue()


def test_every_migration_bounds_its_lock_waits_on_postgresql():
    revisions = list(migration_script().walk_revisions())

    for script in revisions:
        down = script.down_revision or "base"
        both = offline_sql(f"{down}:{script.revision}", f"{script.revision}:{down}")
        upgrade, downgrade = both.split(f"-- Running downgrade {script.revision}", 1)
        for sql in (upgrade, downgrade):
            # In the migration's transaction (SET LOCAL) or, around CONCURRENTLY, its session.
            assert sql.count("lock_timeout = '3s'") >= 1, script.revision
            bounded = re.findall(r"SET LOCAL statement_timeout = '60s'", sql)
            # A concurrent index build is not cut at 60 s: on a large table it would fail
            # every run.
            unbounded = re.findall(r"SET statement_timeout = '0'", sql)
            assert len(bounded) + len(unbounded) >= 1, script.revision
            assert "SET statement_timeout = '60s'" not in sql


@pytest.mark.postgresql
def test_migration_fails_fast_behind_a_conflicting_lock_then_succeeds(empty_database_url):
    config = alembic_config(empty_database_url)
    command.upgrade(config, "20230901_baseline")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO students (first_name, last_name, email) VALUES ('A', 'B', 'a@b.co')")
        )
    holder = engine.connect()
    holder.execute(text("UPDATE students SET last_name = 'Busy'"))  # open transaction

    started = time.monotonic()
    with pytest.raises(OperationalError, match="lock timeout"):
        command.upgrade(config, "head")
    elapsed = time.monotonic() - started
    holder.rollback()
    holder.close()

    assert elapsed < 10  # lock_timeout is 3 s: it gave up instead of queueing
    command.upgrade(config, "head")
    assert "student_courses" in inspect(engine).get_table_names()
    engine.dispose()


def test_indexes_on_existing_tables_are_built_concurrently():
    # Every index after the first migration of its table goes on a table with data.
    sql = offline_sql("20231101_api_keys:head", "head:20231101_api_keys")

    # A table created in this range is new and empty: its own indexes need no care.
    new_tables = set(re.findall(r"CREATE TABLE (\w+)", sql))
    new_indexes = set(
        re.findall(rf"CREATE (?:UNIQUE )?INDEX (\w+) ON (?:{'|'.join(new_tables)}) ", sql)
    )
    statements = [
        statement
        for statement in re.findall(r"(?:CREATE|DROP) INDEX[^;]*;", sql)
        if not set(re.findall(r"\w+", statement)) & new_indexes
    ]
    assert statements
    assert all("INDEX CONCURRENTLY" in statement for statement in statements), statements


def test_the_email_key_migration_fills_every_existing_student(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, "20260201_waitlists")
    with engine.begin() as connection:
        for n, email in enumerate(["Ädä@example.edu", "BOB@Example.edu", "straße@x.edu"]):
            connection.execute(
                text("INSERT INTO students (first_name, last_name, email) VALUES ('A', :n, :e)"),
                {"n": str(n), "e": email},
            )
    before = _rows(engine, "students")

    command.upgrade(config, "head")

    assert _rows(engine, "students") == before
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT email_key FROM students ORDER BY id")).scalars()
        assert list(keys) == ["ädä@example.edu", "bob@example.edu", "strasse@x.edu"]
    command.downgrade(config, "20260201_waitlists")
    assert _rows(engine, "students") == before
    engine.dispose()


def test_fill_email_keys_gives_keys_to_rows_the_old_code_added(app):
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO students (first_name, last_name, email) VALUES ('O', 'L', 'Öld@X.edu')"
            )
        )
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["students", "fill-email-keys"])

    assert result.exit_code == 0, result.output
    assert "Filled the email key of 1 student." in result.output
    with app.app_context():
        assert db.session.execute(text("SELECT email_key FROM students")).scalar() == "öld@x.edu"


def _table(engine, table: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]


TERMS_BASE = "20261203_feed_horizon"
#: Every table that existed before terms, and what the terms migrations add to them.
KEPT_TABLES = (
    "students", "courses", "student_courses", "waitlist_entries", "enrollment_events",
    "api_keys", "feed_horizon",
)  # fmt: skip


def test_the_terms_migrations_keep_every_row_through_up_down_up(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, TERMS_BASE)
    with engine.begin() as connection:
        for n in range(1, 6):
            connection.execute(
                text(
                    "INSERT INTO students (first_name, last_name, email, email_key) "
                    "VALUES ('A', :n, :e, :e)"
                ),
                {"n": str(n), "e": f"s{n}@example.edu"},
            )
            connection.execute(
                text(
                    "INSERT INTO courses (code, title, capacity, waitlist_capacity) "
                    "VALUES (:c, 'T', 2, 5)"
                ),
                {"c": f"CS{n}"},
            )
        for student, course in ((1, 1), (2, 1), (3, 2)):
            connection.execute(
                text("INSERT INTO student_courses (student_id, course_id) VALUES (:s, :c)"),
                {"s": student, "c": course},
            )
            connection.execute(
                text(
                    "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                    "VALUES ('enrolled', :s, :c, 'cli')"
                ),
                {"s": student, "c": course},
            )
        # An event of a course deleted since: its term is the default one too.
        connection.execute(
            text(
                "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                "VALUES ('dropped', 4, 99, 'cli')"
            )
        )
        connection.execute(
            text("INSERT INTO waitlist_entries (student_id, course_id) VALUES (3, 1)")
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (prefix, key_hash, role, student_id) "
                "VALUES ('p1', 'h', 'student', 1)"
            )
        )
    before = {table: _table(engine, table) for table in KEPT_TABLES}

    command.upgrade(config, "head")

    with engine.connect() as connection:
        default = connection.execute(text("SELECT term_id FROM default_term")).scalar_one()
        code = connection.execute(text(f"SELECT code FROM terms WHERE id = {default}")).scalar()
        course_terms = connection.execute(text("SELECT DISTINCT term_id FROM courses")).scalars()
        event_terms = connection.execute(
            text("SELECT DISTINCT term_id FROM enrollment_events")
        ).scalars()
        assert (code, list(course_terms), list(event_terms)) == ("DEFAULT", [default], [default])
        kept = connection.execute(
            text("SELECT id, code, title, capacity, waitlist_capacity FROM courses ORDER BY id")
        ).all()
        assert [tuple(row) for row in kept] == [(n, f"CS{n}", "T", 2, 5) for n in range(1, 6)]
        counts = connection.execute(text("SELECT enrolled_count FROM courses ORDER BY id"))
        assert list(counts.scalars()) == [2, 1, 0, 0, 0]
        # The same code in another term is a new offering; in the same term, a duplicate.
        connection.execute(
            text(
                "INSERT INTO terms (code, name, starts_on, ends_on) "
                "VALUES ('NEXT', 'Next', '2030-01-01', '2030-05-01')"
            )
        )
        other = connection.execute(text("SELECT id FROM terms WHERE code = 'NEXT'")).scalar()
        connection.execute(
            text(f"INSERT INTO courses (term_id, code, title) VALUES ({other}, 'cs1', 'T')")
        )
        with pytest.raises(IntegrityError):
            connection.execute(
                text(f"INSERT INTO courses (term_id, code, title) VALUES ({default}, 'cs1', 'T')")
            )
        connection.rollback()

    command.downgrade(config, TERMS_BASE)
    assert {table: _table(engine, table) for table in KEPT_TABLES} == before
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM courses")).scalar() == 5
    engine.dispose()


RULES_BASE = "20261208_enrolled_counts"


def test_the_registration_rules_migration_keeps_every_row_through_up_down_up(
    empty_database_url,
):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, RULES_BASE)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO students (first_name, last_name, email, email_key) "
                "VALUES ('A', 'B', 'a@x.edu', 'a@x.edu')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO courses (term_id, code, title) "
                "SELECT term_id, 'CS1', 'T' FROM default_term"
            )
        )
        connection.execute(
            text("INSERT INTO student_courses (student_id, course_id) VALUES (1, 1)")
        )
        connection.execute(
            text(
                "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                "VALUES ('enrolled', 1, 1, 'cli')"
            )
        )
    before = {table: _table(engine, table) for table in (*KEPT_TABLES, "terms")}

    command.upgrade(config, "head")

    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO holds (student_id, kind, reason, blocks_registration, "
                "blocks_drop, placed_by) VALUES (1, 'financial', 'Fees', true, false, '{}')"
            )
        )
        connection.execute(
            text("INSERT INTO credit_limits (student_id, term_id, max_credits) VALUES (1, 1, 9)")
        )
        events = connection.execute(
            text("SELECT overrides, override_reason FROM enrollment_events")
        )
        assert [tuple(row) for row in events] == [(None, None)]
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(
                text(
                    "INSERT INTO holds (student_id, kind, reason, blocks_registration, "
                    "blocks_drop, placed_by) VALUES (1, 'financial', 'F', false, false, '{}')"
                )
            )
    command.downgrade(config, RULES_BASE)
    assert {table: _table(engine, table) for table in (*KEPT_TABLES, "terms")} == before
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM holds")).scalar() == 0
    engine.dispose()


def test_the_withdrawals_migration_keeps_every_event_and_never_reuses_an_id(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, "20261209_registration_rules")
    with engine.begin() as connection:
        for type_ in ("enrolled", "dropped", "enrolled"):
            connection.execute(
                text(
                    "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                    "VALUES (:type, 1, 1, 'cli')"
                ),
                {"type": type_},
            )
        connection.execute(text("DELETE FROM enrollment_events WHERE id = 3"))  # pruned
    before = _table(engine, "enrollment_events")

    command.upgrade(config, "head")

    assert _table(engine, "enrollment_events") == before
    with engine.begin() as connection:
        new_id = connection.execute(
            text(
                "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                "VALUES ('withdrawn', 1, 1, 'cli') RETURNING id"
            )
        ).scalar()
        assert new_id == 4  # the SQLite feed's cursor is the last id: never one twice
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(
                text(
                    "INSERT INTO enrollment_events (type, student_id, course_id, actor_kind) "
                    "VALUES ('vanished', 1, 1, 'cli')"
                )
            )
        connection.execute(text("DELETE FROM enrollment_events WHERE type = 'withdrawn'"))
    command.downgrade(config, "20261209_registration_rules")
    assert _table(engine, "enrollment_events") == before
    engine.dispose()


def test_every_term_and_course_gets_its_own_sourced_id_and_new_ones_too(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)
    command.upgrade(config, "20261211_oauth_clients")
    add_term = text(
        "INSERT INTO terms (code, name, starts_on, ends_on) "
        "VALUES (:code, 'Term', '2026-08-31', '2026-12-18')"
    )
    add_course = text(
        "INSERT INTO courses (term_id, code, title) SELECT term_id, :code, 'T' FROM default_term"
    )
    with engine.begin() as connection:
        connection.execute(add_term, {"code": "FA"})
        for n in range(3):
            connection.execute(add_course, {"code": f"C{n}"})
        connection.execute(
            text(
                "INSERT INTO students (first_name, last_name, email, email_key) "
                "VALUES ('A', 'B', 'a@x.edu', 'a@x.edu')"
            )
        )
        connection.execute(
            text("INSERT INTO student_courses (student_id, course_id) VALUES (1, 1)")
        )
    before = _table(engine, "student_courses")

    command.upgrade(config, "head")

    with engine.begin() as connection:
        connection.execute(add_term, {"code": "SP"})
        connection.execute(add_course, {"code": "NEW"})
        # The enrollment counts' triggers still work on the rebuilt courses table.
        connection.execute(
            text("INSERT INTO student_courses (student_id, course_id) VALUES (1, 4)")
        )
        counts = connection.execute(text("SELECT enrolled_count FROM courses ORDER BY id"))
        assert [row[0] for row in counts] == [1, 0, 0, 1]
        for table, rows in (("terms", 3), ("courses", 4)):
            ids = connection.execute(text(f"SELECT sourced_id FROM {table}")).scalars().all()
            assert len(ids) == len(set(ids)) == rows
            assert all(ids)
        connection.execute(text("DELETE FROM student_courses WHERE course_id = 4"))
    assert _table(engine, "student_courses") == before
    command.downgrade(config, "20261211_oauth_clients")
    command.upgrade(config, "head")
    engine.dispose()
