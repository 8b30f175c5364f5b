"""The WaitlistEntry model: a student waiting for a seat in a full course."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.models.base import Base

if TYPE_CHECKING:
    from src.models.course import Course
    from src.models.student import Student


class WaitlistEntry(Base):
    """A place in a course's waiting line. The line is in ``id`` order (taken under the
    course's row lock, so it is the order of joining); positions are not stored, so
    they stay dense (1, 2, 3, ...) whoever leaves.

    Deleting the student deletes the entry; a course with any cannot be deleted.
    """

    __tablename__ = "waitlist_entries"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("student_id", "course_id"),
        # A course's line, in order, straight from the index.
        Index("ix_waitlist_entries_course_id_id", "course_id", "id"),
    )

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="RESTRICT"))
    waitlisted_at: Mapped[datetime] = mapped_column(server_default=func.now())

    student: Mapped[Student] = relationship(back_populates="waitlist_entries")
    course: Mapped[Course] = relationship(back_populates="waitlist_entries")

    def __repr__(self) -> str:
        return f"<WaitlistEntry student={self.student_id} course={self.course_id}>"
