"""Add what the registration rules read and record: holds on students, students' own
credit limits per term, the overrides an enrollment's event records, and, on
PostgreSQL, the function that reads what the rules find.

Two new tables, whose foreign keys to students and terms take a brief SHARE ROW
EXCLUSIVE lock on those tables as they are created; and two nullable columns without
a default on enrollment_events (a catalog change). Every lock is bounded by the lock
timeout, like every lock a migration takes.

Why a function: the findings are one query of a dozen subqueries over JSON lists,
which PostgreSQL planned in 2.4 ms to run in 0.6 (EXPLAIN ANALYZE, a rush course).
psycopg2 sends every statement as text, so each enrollment paid the planning; a
PL/pgSQL function keeps its query's plan for the connection. SQLite, planning in
process, reads the same findings from SQLAlchemy's statement
(``src.services.rules``); the suite runs every rule on both.

Revision ID: 20261209_registration_rules
Revises: 20261208_enrolled_counts
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20261209_registration_rules"
down_revision: str | None = "20261208_enrolled_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# What each registration rule finds for a student in a course (src/services/rules.py
# says what each column means); one row, none without the course.
_FINDINGS_FUNCTION = """
CREATE FUNCTION registration_findings(p_student integer, p_course integer)
RETURNS TABLE (
    enrolled_at timestamptz, waiting boolean, hold_active boolean,
    missing_prerequisites text, missing_corequisites text, conflict_course_id integer,
    enrolled_credits integer, credits integer, max_credits integer
) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY SELECT
        (SELECT sc.enrolled_at FROM student_courses sc
          WHERE sc.student_id = p_student AND sc.course_id = c.id),
        EXISTS (SELECT 1 FROM waitlist_entries w
                 WHERE w.student_id = p_student AND w.course_id = c.id),
        EXISTS (SELECT 1 FROM holds h WHERE h.student_id = p_student
                   AND h.released_at IS NULL AND h.blocks_registration),
        (SELECT string_agg(wanted.code, ' ')
           FROM json_array_elements_text(c.prerequisites) AS wanted(code)
          WHERE NOT EXISTS (
                SELECT 1 FROM student_courses sc JOIN courses o ON o.id = sc.course_id
                  JOIN terms ot ON ot.id = o.term_id
                 WHERE sc.student_id = p_student AND lower(o.code) = lower(wanted.code)
                   AND ot.ends_on < t.starts_on)),
        (SELECT string_agg(wanted.code, ' ')
           FROM json_array_elements_text(c.corequisites) AS wanted(code)
          WHERE NOT EXISTS (
                SELECT 1 FROM student_courses sc JOIN courses o ON o.id = sc.course_id
                 WHERE sc.student_id = p_student AND lower(o.code) = lower(wanted.code)
                   AND o.term_id = c.term_id)),
        (SELECT min(o.id) FROM student_courses sc JOIN courses o ON o.id = sc.course_id,
                json_array_elements(c.meetings) mine, json_array_elements(o.meetings) theirs
          WHERE sc.student_id = p_student AND o.term_id = c.term_id AND o.id <> c.id
            AND mine ->> 'starts_at' < theirs ->> 'ends_at'
            AND theirs ->> 'starts_at' < mine ->> 'ends_at'
            AND EXISTS (SELECT 1 FROM json_array_elements_text(mine -> 'days') my_day
                          JOIN json_array_elements_text(theirs -> 'days') their_day
                            ON my_day = their_day)),
        (SELECT coalesce(sum(o.credits), 0)::integer
           FROM student_courses sc JOIN courses o ON o.id = sc.course_id
          WHERE sc.student_id = p_student AND o.term_id = c.term_id),
        c.credits,
        coalesce((SELECT l.max_credits FROM credit_limits l
                   WHERE l.student_id = p_student AND l.term_id = c.term_id), t.max_credits)
      FROM courses c JOIN terms t ON t.id = c.term_id
     WHERE c.id = p_course;
END $$
"""


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("blocks_registration", sa.Boolean(), nullable=False),
        sa.Column("blocks_drop", sa.Boolean(), nullable=False),
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("placed_by", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('financial', 'academic', 'disciplinary', 'administrative')",
            name=op.f("ck_holds_kind_known"),
        ),
        sa.CheckConstraint(
            "blocks_registration OR blocks_drop", name=op.f("ck_holds_blocks_something")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_holds_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_holds_student_id", "holds", ["student_id"])
    op.create_table(
        "credit_limits",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=False),
        sa.Column("max_credits", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "max_credits >= 0 AND max_credits <= 100",
            name=op.f("ck_credit_limits_max_credits_range"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_credit_limits_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["term_id"],
            ["terms.id"],
            name=op.f("fk_credit_limits_term_id_terms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("student_id", "term_id", name=op.f("pk_credit_limits")),
    )
    op.create_index("ix_credit_limits_term_id", "credit_limits", ["term_id"])
    op.add_column("enrollment_events", sa.Column("overrides", sa.String(200), nullable=True))
    op.add_column("enrollment_events", sa.Column("override_reason", sa.String(500), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        op.execute(_FINDINGS_FUNCTION)


def downgrade() -> None:
    set_timeouts()
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION registration_findings(integer, integer)")
    op.drop_column("enrollment_events", "override_reason")
    op.drop_column("enrollment_events", "overrides")
    op.drop_index("ix_credit_limits_term_id", table_name="credit_limits")
    op.drop_table("credit_limits")
    op.drop_index("ix_holds_student_id", table_name="holds")
    op.drop_table("holds")
