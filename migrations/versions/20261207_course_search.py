"""Index courses for search: trigram indexes on lower(code) and lower(title).

`GET /courses?q=` finds text anywhere in a course's code or title, in any case: a
LIKE '%text%' that only a trigram index (pg_trgm, a trusted extension that a
database owner may create) serves. Built CONCURRENTLY: courses holds live data.
PostgreSQL only; SQLite, embedded and small, reads the table.

Revision ID: 20261207_course_search
Revises: 20261206_event_terms
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import concurrent_ddl, set_timeouts

revision: str = "20261207_course_search"
down_revision: str | None = "20261206_event_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("code", "title")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    set_timeouts()
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with concurrent_ddl():
        for column in COLUMNS:
            name = f"ix_courses_{column}_trgm"
            op.drop_index(name, table_name="courses", postgresql_concurrently=True, if_exists=True)
            op.create_index(
                name,
                "courses",
                [sa.literal_column(f"lower({column}) gin_trgm_ops")],
                postgresql_using="gin",
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    with concurrent_ddl():
        for column in COLUMNS:
            op.drop_index(
                f"ix_courses_{column}_trgm",
                table_name="courses",
                postgresql_concurrently=True,
                if_exists=True,
            )
    # The extension stays: other objects may use it, and it costs nothing unused.
