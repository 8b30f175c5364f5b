"""Give every term and every course a OneRoster ``sourcedId``: a random UUID, stable
forever, never reused, and carrying nothing about what it names (a code can be
renamed; an id is not).

Both tables have data: the column is added the safe way on a live PostgreSQL (nullable
with a default, filled in batches, NOT NULL behind a validated check, the unique index
CONCURRENTLY), and by a rebuild on SQLite (``migrations.helpers.add_random_uuid_columns``).

Revision ID: 20261212_sourced_ids
Revises: 20261211_oauth_clients
Create Date: 2026-12-12
"""

from collections.abc import Sequence

from migrations.helpers import add_random_uuid_columns, drop_random_uuid_columns, set_timeouts

revision: str = "20261212_sourced_ids"
down_revision: str | None = "20261211_oauth_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("terms", "courses")


def upgrade() -> None:
    set_timeouts()
    add_random_uuid_columns("sourced_id", TABLES)


def downgrade() -> None:
    set_timeouts()
    drop_random_uuid_columns("sourced_id", TABLES)
