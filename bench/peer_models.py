"""The benchmark peers' models: SQLAlchemy 2 typed ORM classes over the service's tables.

Both peers (``bench/peer_flask.py``, ``bench/peer_fastapi.py``) are what a team
would write with those stacks, following their documentation: ORM entities, a
session per request, and the same writes as the service and the floor (the capacity
lock, the enrollment, its event).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.floor import TITLES


class Base(DeclarativeBase):
    """The peers' declarative base."""


class Student(Base):
    """A student (the columns the benchmark reads)."""

    __tablename__ = "students"
    id: Mapped[int] = mapped_column(primary_key=True)


class Course(Base):
    """A course, with its enrollment count (kept by the database) and seats left."""

    __tablename__ = "courses"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int]
    code: Mapped[str]
    title: Mapped[str]
    description: Mapped[str | None]
    credits: Mapped[int]
    capacity: Mapped[int | None]
    waitlist_capacity: Mapped[int | None]
    meetings: Mapped[list[Any]] = mapped_column(JSON)
    prerequisites: Mapped[list[str]] = mapped_column(JSON)
    corequisites: Mapped[list[str]] = mapped_column(JSON)
    enrolled_count: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def seats_available(self) -> int | None:
        """Seats left; ``None`` without a capacity."""
        return None if self.capacity is None else self.capacity - self.enrolled_count


class Enrollment(Base):
    """A student in a course."""

    __tablename__ = "student_courses"
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), primary_key=True)
    enrolled_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Event(Base):
    """An enrollment event, written in the same transaction as the change."""

    __tablename__ = "enrollment_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str]
    student_id: Mapped[int]
    course_id: Mapped[int]
    term_id: Mapped[int | None]
    actor_kind: Mapped[str]


def utc(value: datetime) -> datetime:
    """Timestamps as the service shows them: in UTC."""
    return value.astimezone(UTC)


def problem(slug: str, status: int, detail: str) -> dict[str, Any]:
    """The floor's problem body."""
    return {"type": f"/problems/{slug}", "title": TITLES[slug], "status": status, "detail": detail}
