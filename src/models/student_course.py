"""The StudentCourse association object: one student enrolled in one course."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, func
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

    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(server_default=func.now())

    student: Mapped[Student] = relationship(back_populates="enrollments")
    course: Mapped[Course] = relationship(back_populates="enrollments")

    def __repr__(self) -> str:
        return f"<StudentCourse student={self.student_id} course={self.course_id}>"
