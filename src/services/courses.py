"""Operations on courses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from src.exceptions import CourseCodeTaken, CourseHasEnrollments, CourseNotFound
from src.extensions import db
from src.models import Course
from src.services import ResourceList
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
COURSES = ResourceList(Course.__table__, "code")


def _flush_or_code_taken(code: str) -> None:
    # The unique index on lower(code) is the guard against two requests racing.
    try:
        db.session.flush()
    except IntegrityError as error:
        raise CourseCodeTaken(code) from error


def create_course(data: dict[str, Any]) -> Course:
    """Add a course; raise :class:`CourseCodeTaken` if its code is in use in any case."""
    course = Course(**data)
    db.session.add(course)
    _flush_or_code_taken(course.code)
    return course


def update_course(course_id: int, changes: dict[str, Any]) -> Course:
    """Apply a partial update to a course.

    A new capacity below the current enrollment raises :class:`CapacityBelowEnrollment`.
    """
    changes_capacity = "capacity" in changes
    course = get_course(course_id, lock=changes_capacity)
    if changes_capacity:
        check_new_capacity(course_id, changes["capacity"])
    for name, value in changes.items():
        setattr(course, name, value)
    _flush_or_code_taken(course.code)
    return course


def delete_course(course_id: int) -> None:
    """Delete a course; :class:`CourseHasEnrollments` while any student is enrolled.

    The foreign key's ON DELETE RESTRICT is the guard, so an enrollment that commits
    while we delete cannot be orphaned.
    """
    try:
        deleted = db.session.execute(
            delete(Course).where(Course.id == course_id).returning(Course.id)
        ).first()
    except IntegrityError as error:
        raise CourseHasEnrollments(course_id) from error
    if deleted is None:
        raise CourseNotFound(course_id)
