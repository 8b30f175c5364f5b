"""Add enrollment_events.term_id: each event names the term of its course.

Events are append-only and outlive their courses, so the term is written with the
event rather than looked up at read time. The column is added without a default (a
catalog change) and the existing events are filled a batch of ids at a time, each its
own short transaction (the table can be large): with their course's term, or, for a
course deleted since, the default term, which held every course before terms.

Revision ID: 20261206_event_terms
Revises: 20261205_instructors
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20261206_event_terms"
down_revision: str | None = "20261205_instructors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000
_FILL = (
    "UPDATE enrollment_events SET term_id = coalesce("
    "(SELECT term_id FROM courses WHERE courses.id = enrollment_events.course_id), "
    "(SELECT term_id FROM default_term WHERE id = 1)) "
    "WHERE term_id IS NULL AND id > {low} AND id <= {high}"
)


def upgrade() -> None:
    set_timeouts()
    op.add_column("enrollment_events", sa.Column("term_id", sa.Integer(), nullable=True))
    if op.get_context().as_sql:  # offline SQL: one batch stands for them all
        op.execute(_FILL.format(low=0, high=BATCH))
        return
    # Committed first, then each batch commits by itself: no lock on the whole history.
    with op.get_context().autocommit_block():
        last = op.get_bind().exec_driver_sql("SELECT max(id) FROM enrollment_events").scalar()
        for low in range(0, last or 0, BATCH):
            op.get_bind().exec_driver_sql(_FILL.format(low=low, high=low + BATCH))


def downgrade() -> None:
    set_timeouts()
    op.drop_column("enrollment_events", "term_id")
