"""Add student_courses, the enrollments of students in courses.

Additive only: a new table, its keys and an index on the new (empty) table. The
foreign keys take a brief SHARE ROW EXCLUSIVE lock on students and courses;
lock_timeout makes the migration fail fast rather than queue behind live traffic.

Revision ID: 20231001_student_courses
Revises: 20230901_baseline
Create Date: 2023-10-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20231001_student_courses"
down_revision: str | None = "20230901_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "student_courses",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column(
            "enrolled_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_student_courses_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_student_courses_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("student_id", "course_id", name=op.f("pk_student_courses")),
    )
    op.create_index(op.f("ix_student_courses_course_id"), "student_courses", ["course_id"])


def downgrade() -> None:
    set_timeouts()
    op.drop_index(op.f("ix_student_courses_course_id"), table_name="student_courses")
    op.drop_table("student_courses")
