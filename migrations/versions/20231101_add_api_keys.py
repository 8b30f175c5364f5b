"""Add api_keys: hashed API keys with a role, for authentication.

Additive only: a new table with its own constraints and index. The foreign key to
students takes a brief SHARE ROW EXCLUSIVE lock on students; lock_timeout makes the
migration fail fast rather than queue behind live traffic.

Revision ID: 20231101_api_keys
Revises: 20231001_student_courses
Create Date: 2023-11-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20231101_api_keys"
down_revision: str | None = "20231001_student_courses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'reader', 'student')", name=op.f("ck_api_keys_role_known")
        ),
        sa.CheckConstraint(
            "(role = 'student') = (student_id IS NOT NULL)",
            name=op.f("ck_api_keys_student_role_has_student"),
        ),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["students.id"],
            name=op.f("fk_api_keys_student_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index(op.f("ix_api_keys_student_id"), "api_keys", ["student_id"])


def downgrade() -> None:
    set_timeouts()
    op.drop_index(op.f("ix_api_keys_student_id"), table_name="api_keys")
    op.drop_table("api_keys")
