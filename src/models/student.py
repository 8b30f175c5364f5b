"""The Student model."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Identity, Index, String, bindparam, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from src.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from src.models.course import Course
    from src.models.student_course import StudentCourse
    from src.models.waitlist_entry import WaitlistEntry


def email_key(email: str) -> str:
    """An email address as uniqueness compares it: Unicode-normalised and case-folded
    (``Ädä@x.edu`` and ``äDÄ@X.EDU`` are one address, ``Straße`` and ``STRASSE`` too)."""
    return unicodedata.normalize("NFKC", email).casefold()


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
    #: ``email`` compared without regard to case, the same on every database (SQLite's
    #: lower() folds ASCII only): set with the email, and unique.
    email_key: Mapped[str | None] = mapped_column(String(1024))

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

    @validates("email")
    def _set_email_key(self, _key: str, email: str) -> str:
        self.email_key = email_key(email)
        return email

    def __repr__(self) -> str:
        return f"<Student {self.id}>"


Index("uq_students_email_lower", func.lower(Student.email), unique=True)
Index("uq_students_email_key", Student.email_key, unique=True)


def fill_email_keys(connection: Connection) -> int:
    """Give every student without a key its key, a batch at a time; return how many."""
    students = Student.__table__
    filled, last = 0, 0
    while True:
        rows = connection.execute(
            select(students.c.id, students.c.email)
            .where(students.c.email_key.is_(None), students.c.id > last)
            .order_by(students.c.id)
            .limit(1000)
        ).all()
        if not rows:
            return filled
        connection.execute(
            students.update()
            .where(students.c.id == bindparam("row_id"))
            # Not a change of the student: updated_at (and so its ETag) stays.
            .values(email_key=bindparam("key"), updated_at=students.c.updated_at),
            [{"row_id": row.id, "key": email_key(row.email)} for row in rows],
        )
        filled += len(rows)
        last = rows[-1].id
