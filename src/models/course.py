"""The Course model."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Identity,
    Index,
    String,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.models.base import Base, TimestampMixin
from src.models.term import DefaultTerm

if TYPE_CHECKING:
    from src.models.student import Student
    from src.models.student_course import StudentCourse
    from src.models.waitlist_entry import WaitlistEntry


class Course(TimestampMixin, Base):
    """A course as students enroll in it: one offering, in one term. Codes are unique
    within a term without regard to case; the same code in two terms is two offerings.

    ``capacity`` is the most students the course takes; ``None`` means no limit.
    ``meetings`` is its weekly schedule, a list of ``{"days", "starts_at", "ends_at",
    "room"}``; ``prerequisites`` and ``corequisites`` are lists of course codes. Each is
    read and replaced whole, so it is a JSON list rather than a table of its own.
    """

    __tablename__ = "courses"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("credits >= 0 AND credits <= 30", name="credits_range"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity_positive"),
        CheckConstraint("enrolled_count >= 0", name="enrolled_count_not_negative"),
        CheckConstraint(
            "waitlist_capacity IS NULL OR (waitlist_capacity >= 0 AND waitlist_capacity <= 10000)",
            name="waitlist_capacity_range",
        ),
        # Ids are never reused, on SQLite as on PostgreSQL: events outlive the course.
        {"sqlite_autoincrement": True},
    )

    # An identity column (not SERIAL): PostgreSQL owns the sequence with the column.
    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    #: The term it is offered in; an insert that names none puts it in the default term.
    term_id: Mapped[int] = mapped_column(
        ForeignKey("terms.id", ondelete="RESTRICT"),
        default=select(DefaultTerm.term_id).where(DefaultTerm.id == 1).scalar_subquery(),
    )
    #: The course's OneRoster ``sourcedId`` (as a class): random, set by the database.
    sourced_id: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=FetchedValue())
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    credits: Mapped[int] = mapped_column(server_default="3")
    capacity: Mapped[int | None]
    #: How many students may wait for a seat: 0 (the default) for no waitlist, ``None``
    #: for no limit.
    waitlist_capacity: Mapped[int | None] = mapped_column(server_default="0")
    meetings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, server_default=text("'[]'"))
    prerequisites: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))
    corequisites: Mapped[list[str]] = mapped_column(JSON, server_default=text("'[]'"))
    #: Students enrolled now, kept by the database's triggers on ``student_courses``
    #: (migration ``20261208_enrolled_counts``) for every writer: a read shows it without
    #: counting the roster.
    enrolled_count: Mapped[int] = mapped_column(server_default="0")

    #: The course's enrollments. ``passive_deletes="all"``: the ORM never touches them
    #: when the course is deleted, so the database's ON DELETE RESTRICT decides.
    enrollments: Mapped[list[StudentCourse]] = relationship(
        back_populates="course", passive_deletes="all"
    )
    #: The students waiting for a seat; like enrollments, they keep the course alive.
    waitlist_entries: Mapped[list[WaitlistEntry]] = relationship(
        back_populates="course", passive_deletes="all"
    )
    #: The students enrolled in the course, read through ``enrollments``; view-only.
    students: Mapped[list[Student]] = relationship(
        secondary="student_courses", viewonly=True, back_populates="courses"
    )

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.code}>"


Index("uq_courses_term_id_code_lower", Course.term_id, func.lower(Course.code), unique=True)
Index("uq_courses_sourced_id", Course.sourced_id, unique=True)
# ``GET /courses?q=``: text anywhere in the code or title, in any case. Trigram indexes
# (pg_trgm) serve LIKE '%text%' on PostgreSQL; SQLite has none and reads the table.
for _column in ("code", "title"):
    Index(
        f"ix_courses_{_column}_trgm",
        func.lower(Course.__table__.c[_column]).label(f"{_column}_lower"),
        postgresql_using="gin",
        postgresql_ops={f"{_column}_lower": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")
