"""The Withdrawal model: a student who left a course after its term's drop deadline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base


class Withdrawal(Base):
    """A withdrawal: the enrollment left after the drop deadline, kept as the record a
    transcript shows ("W"), where a drop leaves none. The seat is free again, and a
    withdrawn course counts for nothing the registration rules read (credits,
    prerequisites); enrolling again makes a new enrollment beside it.

    Deleting the student deletes it; a course with any cannot be deleted (it is part of
    a student's record).
    """

    __tablename__ = "withdrawals"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # A student's withdrawals, in order, straight from the index.
        Index("ix_withdrawals_student_id_withdrawn_at", "student_id", "withdrawn_at"),
        Index("ix_withdrawals_course_id", "course_id"),
        {"sqlite_autoincrement": True},
    )

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="RESTRICT"))
    #: When the enrollment that was withdrawn began.
    enrolled_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def __repr__(self) -> str:
        return f"<Withdrawal student={self.student_id} course={self.course_id}>"
