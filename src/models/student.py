"""The Student model."""

from __future__ import annotations

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, TimestampMixin


class Student(TimestampMixin, Base):
    """A person who can enroll in courses. Emails are unique without regard to case."""

    __tablename__ = "students"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))

    def __repr__(self) -> str:
        return f"<Student {self.id}>"


Index("uq_students_email_lower", func.lower(Student.email), unique=True)
