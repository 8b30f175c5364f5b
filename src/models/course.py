"""The Course model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from src.models.student import Student
    from src.models.student_course import StudentCourse
    from src.models.waitlist_entry import WaitlistEntry


class Course(TimestampMixin, Base):
    """A course students enroll in. Codes are unique without regard to case.

    ``capacity`` is the most students the course takes; ``None`` means no limit.
    """

    __tablename__ = "courses"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("credits >= 0 AND credits <= 30", name="credits_range"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity_positive"),
        CheckConstraint(
            "waitlist_capacity IS NULL OR (waitlist_capacity >= 0 AND waitlist_capacity <= 10000)",
            name="waitlist_capacity_range",
        ),
        # Ids are never reused, on SQLite as on PostgreSQL: events outlive the course.
        {"sqlite_autoincrement": True},
    )

    # An identity column (not SERIAL): PostgreSQL owns the sequence with the column.
    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    credits: Mapped[int] = mapped_column(server_default="3")
    capacity: Mapped[int | None]
    #: How many students may wait for a seat: 0 (the default) for no waitlist, ``None``
    #: for no limit.
    waitlist_capacity: Mapped[int | None] = mapped_column(server_default="0")

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


Index("uq_courses_code_lower", func.lower(Course.code), unique=True)
