"""The Term model, and which term is the default."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Identity,
    Index,
    String,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base, TimestampMixin


class Term(TimestampMixin, Base):
    """A stretch of the school year that courses are offered in (a semester, a
    quarter, a summer session). Codes are unique without regard to case.

    ``starts_on`` and ``ends_on`` are days, the last one included. The registration
    instants bound when students may add, drop and withdraw; ``None`` is no bound.
    ``max_credits`` caps a student's credits in the term; ``None`` is no cap.
    """

    __tablename__ = "terms"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("starts_on <= ends_on", name="dates_in_order"),
        CheckConstraint(
            "max_credits IS NULL OR (max_credits >= 0 AND max_credits <= 100)",
            name="max_credits_range",
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    #: The term's OneRoster ``sourcedId``: random, set by the database, never changed.
    sourced_id: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=FetchedValue())
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    registration_opens_at: Mapped[datetime | None]
    add_deadline: Mapped[datetime | None]
    drop_deadline: Mapped[datetime | None]
    withdraw_deadline: Mapped[datetime | None]
    max_credits: Mapped[int | None]

    def __repr__(self) -> str:
        return f"<Term {self.id} {self.code}>"


Index("uq_terms_code_lower", func.lower(Term.code), unique=True)
Index("uq_terms_sourced_id", Term.sourced_id, unique=True)


class DefaultTerm(Base):
    """The one row naming the default term: the term a course joins when none is
    given. One row, so there is always exactly one default, and moving it is one
    UPDATE; the foreign key keeps the term from being deleted."""

    __tablename__ = "default_term"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="RESTRICT"))

    def __repr__(self) -> str:
        return f"<DefaultTerm {self.term_id}>"
