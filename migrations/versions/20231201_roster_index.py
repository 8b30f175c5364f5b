"""Index rosters by course and enrollment order.

A course's roster is read in (enrolled_at, student_id) order, a page at a time; an
index in that order serves a page without reading and sorting the whole roster. Its
leading course_id also serves the foreign key, so it replaces the course_id index.
Both are built and dropped CONCURRENTLY: student_courses holds live data.

Revision ID: 20231201_roster_index
Revises: 20231101_api_keys
Create Date: 2023-12-01
"""

from collections.abc import Sequence

from alembic import op

from migrations.helpers import concurrent_ddl

revision: str = "20231201_roster_index"
down_revision: str | None = "20231101_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = "ix_student_courses_course_id_enrolled_at_student_id"
OLD = "ix_student_courses_course_id"


def upgrade() -> None:
    with concurrent_ddl():
        # A CONCURRENTLY build that failed (say, on lock_timeout) leaves an invalid
        # index behind; dropping it first makes the migration safe to run again.
        op.drop_index(
            NEW, table_name="student_courses", postgresql_concurrently=True, if_exists=True
        )
        op.create_index(
            NEW,
            "student_courses",
            ["course_id", "enrolled_at", "student_id"],
            postgresql_concurrently=True,
            if_not_exists=True,
        )
        op.drop_index(
            OLD, table_name="student_courses", postgresql_concurrently=True, if_exists=True
        )


def downgrade() -> None:
    with concurrent_ddl():
        op.drop_index(
            OLD, table_name="student_courses", postgresql_concurrently=True, if_exists=True
        )
        op.create_index(
            OLD, "student_courses", ["course_id"], postgresql_concurrently=True, if_not_exists=True
        )
        op.drop_index(
            NEW, table_name="student_courses", postgresql_concurrently=True, if_exists=True
        )
