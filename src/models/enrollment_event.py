"""The EnrollmentEvent model: the append-only history of every enrollment change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base

#: Every kind of enrollment change, in one place: the check constraint, the schema's
#: enum in the OpenAPI document and the README's table all come from here.
EVENT_TYPES = {
    "enrolled": "The student took a seat in the course.",
    "dropped": "The student left the course (or was deleted: reason `student-deleted`).",
    "withdrawn": "The student left the course after its term's drop deadline: the course "
    "stays on their record as withdrawn.",
    "waitlisted": "The student joined the course's waiting line.",
    "promoted": "A seat was given to the first in line who passes the registration rules "
    "(actor `system`; reason `seat-freed`, `capacity-raised`, or `rules-changed`: a hold "
    "released, a credit limit or a course's requisites changed).",
    "left_waitlist": "The student left the line (or was deleted: reason `student-deleted`).",
}
#: Who caused a change: a request's API key, an operator's command, or the service itself.
ACTOR_KINDS = ("api_key", "cli", "system")


def one_of(column: str, values: Iterable[str]) -> str:
    """A check constraint's SQL: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EnrollmentEvent(Base):
    """One change of one enrollment, written in the transaction that made the change.

    Nothing updates or deletes an event but ``flask events prune``. ``student_id``,
    ``course_id`` and ``term_id`` are plain columns, not foreign keys: the history
    outlives the rows.
    ``txid`` is the writing transaction's id on PostgreSQL (``pg_current_xact_id()``),
    which the change feed orders by commit (see ``src.services.events``); SQLite, with
    one writer at a time, leaves it empty.
    """

    __tablename__ = "enrollment_events"
    __table_args__ = (
        CheckConstraint(one_of("type", EVENT_TYPES), name="type_known"),
        CheckConstraint(one_of("actor_kind", ACTOR_KINDS), name="actor_kind_known"),
        # One enrollment's history, oldest first.
        Index("ix_enrollment_events_student_id_course_id_id", "student_id", "course_id", "id"),
        # The feed's range of transactions between two snapshots.
        Index("ix_enrollment_events_txid", "txid"),
        # The SQLite feed cursor is the last id: never hand one out twice.
        {"sqlite_autoincrement": True},
    )

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    txid: Mapped[int | None] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    student_id: Mapped[int]
    course_id: Mapped[int]
    #: The course's term when the change was made (null only for events that code
    #: before terms wrote during a rolling deploy).
    term_id: Mapped[int | None]
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_key_prefix: Mapped[str | None] = mapped_column(String(16))
    actor_role: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(50))
    #: The registration rules an admin overrode for this change, separated by spaces
    #: (null: none), and the reason they gave.
    overrides: Mapped[str | None] = mapped_column(String(200))
    override_reason: Mapped[str | None] = mapped_column(String(500))

    def __repr__(self) -> str:
        return f"<EnrollmentEvent {self.id} {self.type}>"
