"""The ApiKey model: who may call the API, and as what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Identity, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base

ROLES = ("admin", "reader", "student", "instructor")


class ApiKey(Base):
    """An API key, stored only as a SHA-256 hash beside a short lookup prefix.

    The key itself (``reg_<prefix>_<secret>``, 256 random bits) is shown once, when
    it is created. A ``student`` key is bound to one student and deleted with them; an
    ``instructor`` key to one instructor, likewise.
    """

    __tablename__ = "api_keys"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'reader', 'student', 'instructor')", name="role_known"),
        CheckConstraint(
            "(role = 'student') = (student_id IS NOT NULL)", name="student_role_has_student"
        ),
        CheckConstraint(
            "(role = 'instructor') = (instructor_id IS NOT NULL)",
            name="instructor_role_has_instructor",
        ),
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(10))
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    instructor_id: Mapped[int | None] = mapped_column(
        ForeignKey("instructors.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<ApiKey {self.prefix} {self.role}>"
