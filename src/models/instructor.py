"""The Instructor model, and who teaches which course."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from src.models.base import Base, TimestampMixin
from src.models.student import email_key

INSTRUCTOR_ROLES = ("primary", "secondary")


class Instructor(TimestampMixin, Base):
    """A person who teaches courses. Emails are unique among instructors without regard
    to case, compared as students' are (``email_key``)."""

    __tablename__ = "instructors"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(1024), unique=True)

    @validates("email")
    def _set_email_key(self, _key: str, email: str) -> str:
        self.email_key = email_key(email)
        return email

    def __repr__(self) -> str:
        return f"<Instructor {self.id} {self.email}>"


class CourseInstructor(Base):
    """An instructor assigned to a course, as its ``primary`` instructor (at most one
    per course) or a ``secondary`` one. Deleted with the course or the instructor."""

    __tablename__ = "course_instructors"
    __table_args__ = (CheckConstraint("role IN ('primary', 'secondary')", name="role_known"),)

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    instructor_id: Mapped[int] = mapped_column(
        ForeignKey("instructors.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(10))
    assigned_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def __repr__(self) -> str:
        return f"<CourseInstructor {self.course_id} {self.instructor_id} {self.role}>"


Index(
    "uq_course_instructors_primary",
    CourseInstructor.course_id,
    unique=True,
    postgresql_where=text("role = 'primary'"),
    sqlite_where=text("role = 'primary'"),
)
