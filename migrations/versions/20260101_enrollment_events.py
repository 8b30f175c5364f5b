"""Add enrollment_events: the append-only history of enrollment changes.

Additive only: a new table and its indexes, created empty, so nothing waits on live
traffic (lock_timeout bounds it all the same). On PostgreSQL ``txid`` defaults to the
writing transaction's id, which the change feed needs to order events by commit.

Revision ID: 20260101_enrollment_events
Revises: 20231201_roster_index
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations.helpers import set_timeouts

revision: str = "20260101_enrollment_events"
down_revision: str | None = "20231201_roster_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_timeouts()
    postgresql = op.get_context().dialect.name == "postgresql"
    # xid8 -> text -> bigint: a 64-bit transaction id (epoch and xid) always fits.
    txid_default = sa.text("(pg_current_xact_id()::text::bigint)") if postgresql else None
    op.create_table(
        "enrollment_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            nullable=False,
        ),
        sa.Column("txid", sa.BigInteger(), server_default=txid_default, nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("actor_kind", sa.String(length=10), nullable=False),
        sa.Column("actor_key_prefix", sa.String(length=16), nullable=True),
        sa.Column("actor_role", sa.String(length=10), nullable=True),
        sa.Column("reason", sa.String(length=50), nullable=True),
        sa.CheckConstraint(
            "type IN ('enrolled', 'dropped', 'waitlisted', 'promoted', 'left_waitlist')",
            name=op.f("ck_enrollment_events_type_known"),
        ),
        sa.CheckConstraint(
            "actor_kind IN ('api_key', 'cli', 'system')",
            name=op.f("ck_enrollment_events_actor_kind_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_events")),
        # SQLite's feed cursor is the last id: an id must never be handed out twice,
        # even after every event was pruned.
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_enrollment_events_student_id_course_id_id",
        "enrollment_events",
        ["student_id", "course_id", "id"],
    )
    op.create_index("ix_enrollment_events_txid", "enrollment_events", ["txid"])


def downgrade() -> None:
    set_timeouts()
    op.drop_index("ix_enrollment_events_txid", table_name="enrollment_events")
    op.drop_index("ix_enrollment_events_student_id_course_id_id", table_name="enrollment_events")
    op.drop_table("enrollment_events")
