"""The Hold model: a bar on a student's registration or drops, until released."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Identity, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base

HOLD_KINDS = ("financial", "academic", "disciplinary", "administrative")
#: What a hold can block: enrolling (and being promoted from a waitlist), and a
#: student's own drops and withdrawals.
HOLD_BLOCKS = ("registration", "drop")


class Hold(Base):
    """A hold on a student (an unpaid bill, a missing transcript). Active until
    released; a released hold is kept, with who released it and when. ``placed_by``
    and ``released_by`` are actors as events show them (``{"kind", ...}``)."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('financial', 'academic', 'disciplinary', 'administrative')",
            name="kind_known",
        ),
        CheckConstraint("blocks_registration OR blocks_drop", name="blocks_something"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500))
    blocks_registration: Mapped[bool]
    blocks_drop: Mapped[bool]
    placed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    placed_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    released_at: Mapped[datetime | None]
    released_by: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<Hold {self.id} {self.kind} student={self.student_id}>"


class CreditLimit(Base):
    """A student's own cap on credits in one term, in place of the term's
    ``max_credits``."""

    __tablename__ = "credit_limits"
    __table_args__ = (
        CheckConstraint("max_credits >= 0 AND max_credits <= 100", name="max_credits_range"),
    )

    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    term_id: Mapped[int] = mapped_column(
        ForeignKey("terms.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    max_credits: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    def __repr__(self) -> str:
        return f"<CreditLimit {self.student_id} term={self.term_id} {self.max_credits}>"
