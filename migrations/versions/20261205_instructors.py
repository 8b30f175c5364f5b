"""Add instructors, who teaches which course, and instructor API keys.

Two new tables (nothing on a live table is locked for them) and, on api_keys, an
instructor_id column bound to an instructor, with the role check widened to the
`instructor` role. On PostgreSQL the foreign key and the checks are added NOT VALID
and validated in transactions of their own; the index is built CONCURRENTLY. SQLite
rebuilds api_keys (batch mode: no table references it).

Downgrade refuses while instructor keys exist (the narrower role check fails): revoke
and delete them first.

Revision ID: 20261205_instructors
Revises: 20261204_terms
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import concurrent_ddl, own_transaction, set_timeouts

revision: str = "20261205_instructors"
down_revision: str | None = "20261204_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_api_keys_instructor_id_instructors"
INDEX = "ix_api_keys_instructor_id"
ROLE_CHECK = "ck_api_keys_role_known"
OLD_ROLES = "role IN ('admin', 'reader', 'student')"
NEW_ROLES = "role IN ('admin', 'reader', 'student', 'instructor')"
BOUND_CHECK = "ck_api_keys_instructor_role_has_instructor"
BOUND = "(role = 'instructor') = (instructor_id IS NOT NULL)"
# squawk: the role check dropped is replaced by a wider one in the same transaction.
_REPLACED = "-- squawk-ignore ban-drop-constraint\n"
# squawk asks validations to be rerunnable: validating twice does nothing the second time.
_ROBUST = "-- squawk-ignore prefer-robust-stmts\n"


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "instructors",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=1024), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instructors")),
        sa.UniqueConstraint("email_key", name=op.f("uq_instructors_email_key")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "course_instructors",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("instructor_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column(
            "assigned_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('primary', 'secondary')", name=op.f("ck_course_instructors_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_instructors_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instructor_id"],
            ["instructors.id"],
            name=op.f("fk_course_instructors_instructor_id_instructors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course_id", "instructor_id", name=op.f("pk_course_instructors")),
    )
    op.create_index("ix_course_instructors_instructor_id", "course_instructors", ["instructor_id"])
    op.create_index(
        "uq_course_instructors_primary",
        "course_instructors",
        ["course_id"],
        unique=True,
        postgresql_where=sa.text("role = 'primary'"),
        sqlite_where=sa.text("role = 'primary'"),
    )
    if op.get_context().dialect.name == "sqlite":
        # Batch mode names constraints by the models' convention (ck_api_keys_...).
        with op.batch_alter_table("api_keys", recreate="always") as batch:
            batch.add_column(sa.Column("instructor_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(
                FOREIGN_KEY, "instructors", ["instructor_id"], ["id"], ondelete="CASCADE"
            )
            batch.drop_constraint("role_known", type_="check")
            batch.create_check_constraint("role_known", NEW_ROLES)
            batch.create_check_constraint("instructor_role_has_instructor", BOUND)
        op.create_index(INDEX, "api_keys", ["instructor_id"])
        return
    op.add_column("api_keys", sa.Column("instructor_id", sa.Integer(), nullable=True))
    op.execute(
        f"ALTER TABLE api_keys ADD CONSTRAINT {FOREIGN_KEY} FOREIGN KEY (instructor_id) "
        "REFERENCES instructors (id) ON DELETE CASCADE NOT VALID"
    )
    op.execute(f"{_REPLACED}ALTER TABLE api_keys DROP CONSTRAINT {ROLE_CHECK}")
    op.execute(f"ALTER TABLE api_keys ADD CONSTRAINT {ROLE_CHECK} CHECK ({NEW_ROLES}) NOT VALID")
    op.execute(f"ALTER TABLE api_keys ADD CONSTRAINT {BOUND_CHECK} CHECK ({BOUND}) NOT VALID")
    with op.get_context().autocommit_block():
        for constraint in (FOREIGN_KEY, ROLE_CHECK, BOUND_CHECK):
            with own_transaction():
                op.execute(f"{_ROBUST}ALTER TABLE api_keys VALIDATE CONSTRAINT {constraint}")
    with concurrent_ddl():
        op.drop_index(INDEX, table_name="api_keys", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX, "api_keys", ["instructor_id"], postgresql_concurrently=True, if_not_exists=True
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="api_keys")
        with op.batch_alter_table("api_keys", recreate="always") as batch:
            batch.drop_constraint("instructor_role_has_instructor", type_="check")
            batch.drop_constraint("role_known", type_="check")
            batch.create_check_constraint("role_known", OLD_ROLES)
            batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
            batch.drop_column("instructor_id")
    else:
        with concurrent_ddl():
            op.drop_index(
                INDEX, table_name="api_keys", postgresql_concurrently=True, if_exists=True
            )
        set_timeouts()
        op.execute(f"{_REPLACED}ALTER TABLE api_keys DROP CONSTRAINT {BOUND_CHECK}")
        op.execute(f"{_REPLACED}ALTER TABLE api_keys DROP CONSTRAINT {ROLE_CHECK}")
        op.execute(f"ALTER TABLE api_keys ADD CONSTRAINT {ROLE_CHECK} CHECK ({OLD_ROLES})")
        op.drop_constraint(FOREIGN_KEY, "api_keys", type_="foreignkey")
        op.drop_column("api_keys", "instructor_id")
    set_timeouts()
    op.drop_index("uq_course_instructors_primary", table_name="course_instructors")
    op.drop_index("ix_course_instructors_instructor_id", table_name="course_instructors")
    op.drop_table("course_instructors")
    op.drop_table("instructors")
