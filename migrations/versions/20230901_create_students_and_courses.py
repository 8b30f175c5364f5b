"""Create students and courses.

Revision ID: 20230901_baseline
Revises:
Create Date: 2023-09-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20230901_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "students",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
        # SQLite would otherwise reuse a deleted largest id, as PostgreSQL never does.
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_students_email_lower", "students", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("credits", sa.Integer(), server_default="3", nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "capacity IS NULL OR capacity >= 1", name=op.f("ck_courses_capacity_positive")
        ),
        sa.CheckConstraint("credits >= 0 AND credits <= 30", name=op.f("ck_courses_credits_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_courses_code_lower", "courses", [sa.literal_column("lower(code)")], unique=True
    )


def downgrade() -> None:
    set_timeouts()
    op.drop_index("uq_courses_code_lower", table_name="courses")
    op.drop_table("courses")
    op.drop_index("uq_students_email_lower", table_name="students")
    op.drop_table("students")
