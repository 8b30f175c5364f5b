"""Add waitlists: courses.waitlist_capacity and waitlist_entries.

Safe on live tables. The new column has a constant default (PostgreSQL 11+ stores it
in the catalog, without rewriting courses) and a range check on the column, which
PostgreSQL verifies by reading courses (a table of thousands of rows, not millions)
under the ALTER's brief lock. waitlist_entries is new and empty. lock_timeout bounds
every lock wait.

Revision ID: 20260201_waitlists
Revises: 20260101_enrollment_events
Create Date: 2026-02-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20260201_waitlists"
down_revision: str | None = "20260101_enrollment_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANGE = "ck_courses_waitlist_capacity_range"
RANGE_SQL = "waitlist_capacity IS NULL OR (waitlist_capacity >= 0 AND waitlist_capacity <= 10000)"


def upgrade() -> None:
    set_timeouts()
    # One statement on both databases, the check on the column itself: SQLite cannot add
    # a table constraint (batch mode would copy courses and lose its lower(code) index),
    # and PostgreSQL checks the existing rows, which all hold the constant default 0,
    # without rewriting the table.
    op.execute(
        "ALTER TABLE courses ADD COLUMN waitlist_capacity INTEGER DEFAULT '0' "
        f"CONSTRAINT {RANGE} CHECK ({RANGE_SQL})"
    )
    op.create_table(
        "waitlist_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column(
            "waitlisted_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_waitlist_entries_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_waitlist_entries_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint(
            "student_id", "course_id", name=op.f("uq_waitlist_entries_student_id_course_id")
        ),
    )
    op.create_index("ix_waitlist_entries_course_id_id", "waitlist_entries", ["course_id", "id"])


def downgrade() -> None:
    set_timeouts()
    op.drop_index("ix_waitlist_entries_course_id_id", table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
    op.drop_column("courses", "waitlist_capacity")  # and its check with it
