"""Add feed_horizon: how far the change feed was pruned.

``flask --app wsgi events prune`` records in its one row how many prunes there were
and the last transaction whose events they deleted; a feed cursor that had not read
past it is answered 410 cursor-expired instead of silently skipping them. A new, empty
table: nothing on a live table is locked.

Revision ID: 20261203_feed_horizon
Revises: 20260301_student_email_key
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20261203_feed_horizon"
down_revision: str | None = "20260301_student_email_key"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_timeouts()
    op.create_table(
        "feed_horizon",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("prunes", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.Column("pruned_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "pruned_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_feed_horizon_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_horizon")),
    )


def downgrade() -> None:
    set_timeouts()
    op.drop_table("feed_horizon")
