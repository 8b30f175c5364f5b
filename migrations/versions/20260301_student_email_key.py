"""Add students.email_key: emails compared the same way on every database.

SQLite's lower() folds ASCII only, so `Ädä@x.edu` and `äDÄ@x.edu` were two students
there and one on PostgreSQL. email_key holds the address normalised and case-folded by
the application (src.models.student.email_key) and carries a unique index.

Safe on a live table: the column is added without a default (a catalog change), filled
in batches of 1,000 rows, each its own short transaction, and indexed CONCURRENTLY.
Rows that the previous code adds during a rolling deploy have no key until
`flask --app wsgi students fill-email-keys` runs (README, Deploying); the unique
lower(email) index stays, so they are never duplicates meanwhile. Two existing
addresses equal only under case folding (`straße@…` and `STRASSE@…`) make the index
build fail: the migration names them, to be merged by hand.

Revision ID: 20260301_student_email_key
Revises: 20260201_waitlists
Create Date: 2026-03-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import concurrent_ddl, set_timeouts
from src.models.student import fill_email_keys

revision: str = "20260301_student_email_key"
down_revision: str | None = "20260201_waitlists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_students_email_key"


def upgrade() -> None:
    set_timeouts()
    op.add_column("students", sa.Column("email_key", sa.String(length=1024), nullable=True))
    if not op.get_context().as_sql:  # offline SQL has no rows to read
        # Committed first, then each batch commits by itself: no lock on all students.
        with op.get_context().autocommit_block():
            fill_email_keys(op.get_bind())
    with concurrent_ddl():
        op.drop_index(INDEX, table_name="students", postgresql_concurrently=True, if_exists=True)
        op.create_index(
            INDEX,
            "students",
            ["email_key"],
            unique=True,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with concurrent_ddl():
        op.drop_index(INDEX, table_name="students", postgresql_concurrently=True, if_exists=True)
    set_timeouts()
    op.drop_column("students", "email_key")
