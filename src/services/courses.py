"""Operations on courses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, null
from sqlalchemy.exc import IntegrityError

from src.exceptions import CourseCodeTaken, CourseHasEnrollments, CourseNotFound
from src.extensions import db
from src.models import Course
from src.services import COURSE_COLUMNS, Precondition, ResourceList, waitlists
from src.services.enrollments import check_new_capacity


def get_course(course_id: int, *, lock: bool = False) -> Course:
    """Return the course with ``course_id`` or raise :class:`CourseNotFound`.

    With ``lock``, its row is locked as enrolling locks it (see ``enrollments``).
    """
    if lock:
        course = db.session.get(
            Course, course_id, with_for_update={"key_share": True}, populate_existing=True
        )
    else:
        course = db.session.get(Course, course_id)
    if course is None:
        raise CourseNotFound(course_id)
    return course


#: All courses, or the one with ``?code=`` (any case), in id order.
COURSES = ResourceList(Course.__table__, "code", columns=COURSE_COLUMNS)


def _flush_or_code_taken(code: str) -> None:
    # The unique index on lower(code) is the guard against two requests racing.
    try:
        db.session.flush()
    except IntegrityError as error:
        raise CourseCodeTaken(code) from error


def create_course(data: dict[str, Any]) -> Course:
    """Add a course; raise :class:`CourseCodeTaken` if its code is in use in any case."""
    # An explicit null must be written as NULL: the ORM leaves a None out of the
    # INSERT of a column with a server default (waitlist_capacity's 0).
    course = Course(**{name: null() if value is None else value for name, value in data.items()})
    db.session.add(course)
    _flush_or_code_taken(course.code)
    return course


def update_course(
    course_id: int, changes: dict[str, Any], precondition: Precondition | None = None
) -> Course:
    """Apply a partial update to a course, if ``precondition`` accepts it as it is.

    Under the course's row lock: a capacity below the current enrollment raises
    :class:`CapacityBelowEnrollment`, a waitlist capacity below the students waiting
    :class:`CapacityBelowWaitlist`, and new seats go to the first in line at once.
    """
    course = get_course(course_id, lock=True)
    if precondition is not None:
        precondition(course)
    if "capacity" in changes:
        check_new_capacity(course_id, changes["capacity"])
    if "waitlist_capacity" in changes:
        waitlists.check_new_waitlist_capacity(course_id, changes["waitlist_capacity"])
    for name, value in changes.items():
        setattr(course, name, value)
    _flush_or_code_taken(course.code)
    if "capacity" in changes:
        waitlists.fill_free_seats(course_id, course.capacity, "capacity-raised")
    return course


def delete_course(course_id: int, precondition: Precondition | None = None) -> None:
    """Delete a course that nobody is enrolled in or waiting for, if ``precondition``
    accepts it as it is; else :class:`CourseHasEnrollments`.

    The foreign keys' ON DELETE RESTRICT is the guard, so an enrollment that commits
    while we delete cannot be orphaned.
    """
    if precondition is not None:
        precondition(get_course(course_id, lock=True))
    try:
        deleted = db.session.execute(
            delete(Course).where(Course.id == course_id).returning(Course.id)
        ).first()
    except IntegrityError as error:
        raise CourseHasEnrollments(course_id) from error
    if deleted is None:
        raise CourseNotFound(course_id)
