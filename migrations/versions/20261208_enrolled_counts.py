"""Add courses.enrolled_count, kept by triggers on student_courses.

Counting a course's roster on every read of the course made a read of a student's
courses cost the sum of their courses' rosters (49 ms for a student in five courses of
20,000, in docs/benchmarks.md). The database keeps the count instead, for every
writer (this code, the previous code during a rolling deploy, the seed, SQL by hand):
on PostgreSQL statement-level triggers with transition tables (one UPDATE per course a
statement touches, whatever the batch), on SQLite row-level ones.

Safe on a live table: the column comes with a constant default (a catalog change) and
the triggers before any count is written, then the counts are filled a batch of
courses at a time, each its own transaction that first locks its courses as enrolling
does, so no enrollment is half-counted.

Revision ID: 20261208_enrolled_counts
Revises: 20261207_course_search
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import own_transaction, set_timeouts

revision: str = "20261208_enrolled_counts"
down_revision: str | None = "20261207_course_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_courses_enrolled_count_not_negative"
BATCH = 500

_POSTGRESQL_TRIGGERS = """
CREATE FUNCTION count_enrollments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE courses SET enrolled_count = courses.enrolled_count + added.n
        FROM (SELECT course_id, count(*) AS n FROM new_rows GROUP BY course_id) AS added
        WHERE courses.id = added.course_id;
    ELSE
        UPDATE courses SET enrolled_count = courses.enrolled_count - removed.n
        FROM (SELECT course_id, count(*) AS n FROM old_rows GROUP BY course_id) AS removed
        WHERE courses.id = removed.course_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER count_enrollments_added AFTER INSERT ON student_courses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_enrollments();
CREATE TRIGGER count_enrollments_removed AFTER DELETE ON student_courses
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_enrollments();
"""
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER count_enrollments_added AFTER INSERT ON student_courses BEGIN "
    "UPDATE courses SET enrolled_count = enrolled_count + 1 WHERE id = NEW.course_id; END",
    "CREATE TRIGGER count_enrollments_removed AFTER DELETE ON student_courses BEGIN "
    "UPDATE courses SET enrolled_count = enrolled_count - 1 WHERE id = OLD.course_id; END",
)
# Locked first, in id order, as enrolling locks a course: the count below, a statement
# later, sees every enrollment of these courses, and none is being made meanwhile.
_LOCK = "SELECT id FROM courses WHERE id > {low} AND id <= {high} ORDER BY id FOR NO KEY UPDATE"
_FILL = (
    "UPDATE courses SET enrolled_count = "
    "(SELECT count(*) FROM student_courses WHERE course_id = courses.id) "
    "WHERE id > {low} AND id <= {high}"
)


def upgrade() -> None:
    set_timeouts()
    if op.get_context().dialect.name == "sqlite":
        # SQLite takes a CHECK with the column it is on (and one writer at a time).
        op.execute(
            "ALTER TABLE courses ADD COLUMN enrolled_count INTEGER DEFAULT '0' NOT NULL "
            f"CONSTRAINT {CHECK} CHECK (enrolled_count >= 0)"
        )
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute(_FILL.format(low=0, high=2**31))
        return
    op.add_column(
        "courses", sa.Column("enrolled_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.execute(f"ALTER TABLE courses ADD CONSTRAINT {CHECK} CHECK (enrolled_count >= 0) NOT VALID")
    op.execute(_POSTGRESQL_TRIGGERS)
    if op.get_context().as_sql:  # offline SQL: one batch stands for them all
        op.execute(_FILL.format(low=0, high=BATCH))
        return
    with op.get_context().autocommit_block():
        with own_transaction():
            # squawk asks it to be rerunnable: validating twice does nothing the second time.
            op.execute(
                "-- squawk-ignore prefer-robust-stmts\n"
                f"ALTER TABLE courses VALIDATE CONSTRAINT {CHECK}"
            )
        last = op.get_bind().exec_driver_sql("SELECT max(id) FROM courses").scalar() or 0
        for low in range(0, last, BATCH):
            bounds = {"low": low, "high": low + BATCH}
            op.execute("BEGIN")
            op.execute(_LOCK.format(**bounds))
            op.execute(_FILL.format(**bounds))
            op.execute("COMMIT")


def downgrade() -> None:
    set_timeouts()
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER count_enrollments_added")
        op.execute("DROP TRIGGER count_enrollments_removed")
    else:
        op.execute("DROP TRIGGER count_enrollments_added ON student_courses")
        op.execute("DROP TRIGGER count_enrollments_removed ON student_courses")
        op.execute("DROP FUNCTION count_enrollments()")
    op.drop_column("courses", "enrolled_count")  # and its check with it
