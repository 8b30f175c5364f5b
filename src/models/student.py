"""The Student model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from src.models.course import Course
    from src.models.student_course import StudentCourse
    from src.models.waitlist_entry import WaitlistEntry


class Student(TimestampMixin, Base):
    """A person who can enroll in courses. Emails are unique without regard to case."""

    __tablename__ = "students"
    __mapper_args__ = {"eager_defaults": True}
    # Ids are never reused, on SQLite as on PostgreSQL: events outlive the student.
    __table_args__ = {"sqlite_autoincrement": True}

    # An identity column (not SERIAL): PostgreSQL owns the sequence with the column.
    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))

    #: The student's enrollments. The database deletes them with the student
    #: (ON DELETE CASCADE), so the ORM need not load them first.
    enrollments: Mapped[list[StudentCourse]] = relationship(
        back_populates="student", cascade="all, delete-orphan", passive_deletes=True
    )
    #: The courses the student waits for a seat in; deleted with the student.
    waitlist_entries: Mapped[list[WaitlistEntry]] = relationship(
        back_populates="student", cascade="all, delete-orphan", passive_deletes=True
    )
    #: The courses the student is enrolled in, read through ``enrollments``. View-only:
    #: enrollments are written through the association object alone.
    courses: Mapped[list[Course]] = relationship(
        secondary="student_courses", viewonly=True, back_populates="students"
    )

    def __repr__(self) -> str:
        return f"<Student {self.id}>"


Index("uq_students_email_lower", func.lower(Student.email), unique=True)
