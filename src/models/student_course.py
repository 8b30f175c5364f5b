"""The StudentCourse association object: one student enrolled in one course."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.models.base import Base

if TYPE_CHECKING:
    from src.models.course import Course
    from src.models.student import Student


class StudentCourse(Base):
    """An enrollment. Deleting the student deletes it; a course with any cannot be deleted.

    ``enrolled_at`` is set by the database when the row is inserted.
    """

    __tablename__ = "student_courses"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # A roster page, in its order, straight from the index (and the foreign key's).
        Index(
            "ix_student_courses_course_id_enrolled_at_student_id",
            "course_id",
            "enrolled_at",
            "student_id",
        ),
    )

    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="RESTRICT"), primary_key=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(server_default=func.now())

    student: Mapped[Student] = relationship(back_populates="enrollments")
    course: Mapped[Course] = relationship(back_populates="enrollments")

    def __repr__(self) -> str:
        return f"<StudentCourse student={self.student_id} course={self.course_id}>"
