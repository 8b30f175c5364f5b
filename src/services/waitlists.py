"""Waitlists: students waiting, in line, for a seat in a full course.

The rule that keeps the line fair: **a course never has a free seat while someone
waits.** Every change that frees seats (a drop, a deleted student, a raised capacity)
gives them to the first in line in the same transaction, under the course's row lock
(see ``src.services.enrollments``), so a newcomer can never take a seat ahead of the
line. It follows that a course whose ``waitlist_capacity`` is 0 has nobody waiting
(lowering it below the line's length is refused), and the hot paths skip every
waitlist statement for such courses.

Every function that changes a line expects the caller to hold the course's row lock,
in a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, bindparam, delete, func, insert, or_, select
from sqlalchemy.orm import aliased

from src.database import Listing, Page, Statement, now
from src.exceptions import CapacityBelowWaitlist, CourseNotFound
from src.models import Course, Student, StudentCourse, WaitlistEntry
from src.services import STUDENT_COLUMNS, events

_entries = WaitlistEntry.__table__
_enrollments = StudentCourse.__table__
_students = Student.__table__
_courses = Course.__table__
_student_id = bindparam("student_id")
_course_id = bindparam("course_id")
_ahead = aliased(WaitlistEntry.__table__, name="ahead")


def has_waitlist(course: Mapping[str, Any]) -> bool:
    """Whether anyone can be waiting for this course (see the module's doc)."""
    return course["waitlist_capacity"] != 0


def position_of(entry: Any) -> Any:
    """1 for the first in line: how many of the course's entries are at or before it."""
    return (
        select(func.count())
        .where(_ahead.c.course_id == entry.c.course_id, _ahead.c.id <= entry.c.id)
        .scalar_subquery()
    )


_line_length = select(func.count()).where(_entries.c.course_id == _course_id)
# No row when there is no such course.
_LINE = Listing(
    select(
        *_students.c,
        func.row_number().over(order_by=_entries.c.id).label("waitlist_position"),
        _entries.c.waitlisted_at,
    )
    .join_from(_entries, _students, _entries.c.student_id == _students.c.id)
    .where(_entries.c.course_id == _course_id)
    .order_by(_entries.c.id),
    select(_line_length.scalar_subquery()).where(_courses.c.id == _course_id),
    (*STUDENT_COLUMNS, "waitlist_position", "waitlisted_at"),
    order=("waitlist_position",),
)


def line(course_id: int, limit: int, offset: int) -> Page:
    """A page of the course's line, first in line first, with each student's place;
    :class:`CourseNotFound` if there is no such course."""
    page = _LINE.page({"course_id": course_id}, limit, offset)
    if page is None:
        raise CourseNotFound(course_id)
    return page


_LINE_LENGTH = Statement(_line_length)


def line_length(course_id: int) -> int:
    """How many students wait for the course."""
    return _LINE_LENGTH.scalar({"course_id": course_id})


_capacity = bindparam("capacity", type_=Integer)
_in_line = (
    select(_entries.c.id, func.row_number().over(order_by=_entries.c.id).label("place"))
    .where(_entries.c.course_id == _course_id)
    .subquery()
)
# The entries that free seats go to: the first in line, as many as seats are free.
_FIRST_IN_LINE = Statement(
    select(_in_line.c.id)
    .where(
        or_(
            _capacity.is_(None),
            _in_line.c.place
            <= _capacity
            - select(func.count()).where(_enrollments.c.course_id == _course_id).scalar_subquery(),
        )
    )
    .order_by(_in_line.c.id)
)
_ids = bindparam("ids", expanding=True)
_PROMOTE = events.Recorded(
    insert(_enrollments)
    .from_select(
        ["student_id", "course_id", "enrolled_at"],
        select(_entries.c.student_id, _entries.c.course_id, now())
        .where(_entries.c.id.in_(_ids))
        .order_by(_entries.c.id),
    )
    .returning(_enrollments.c.student_id, _enrollments.c.course_id),
    "promoted",
)
_REMOVE_FROM_LINE = Statement(delete(_entries).where(_entries.c.id.in_(_ids)))


def fill_free_seats(course_id: int, capacity: int | None, reason: str) -> int:
    """Give the course's free seats to the first in line; return how many were promoted.

    Each promotion is recorded as ``promoted`` by the system, with ``reason``.
    """
    ids = [row[0] for row in _FIRST_IN_LINE.rows({"course_id": course_id, "capacity": capacity})]
    if not ids:
        return 0
    _PROMOTE.execute({"ids": ids}, reason=reason, actor=events.SYSTEM)
    _REMOVE_FROM_LINE.run({"ids": ids})
    return len(ids)


def check_new_waitlist_capacity(course_id: int, waitlist_capacity: int | None) -> None:
    """Refuse a waitlist capacity below the number of students waiting."""
    if waitlist_capacity is None:
        return
    waiting = line_length(course_id)
    if waiting > waitlist_capacity:
        raise CapacityBelowWaitlist(waitlist_capacity, waiting)
