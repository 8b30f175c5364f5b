"""Operations on courses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from src.database import Listing, Page, Statement, now, transaction
from src.exceptions import CourseCodeTaken, CourseHasEnrollments, CourseNotFound
from src.models import Course
from src.services import COURSE_COLUMNS, Precondition, waitlists
from src.services.enrollments import check_new_capacity

_courses = Course.__table__
_course_id = bindparam("course_id")
_all = select(*_courses.c).order_by(_courses.c.id)
_with_code = func.lower(_courses.c.code) == func.lower(bindparam("code"))
_LIST = Listing(_all, select(func.count()).select_from(_courses), COURSE_COLUMNS)
_LIST_WITH_CODE = Listing(
    _all.where(_with_code), select(func.count()).where(_with_code), COURSE_COLUMNS
)


def list_courses(limit: int, offset: int, code: str | None = None) -> Page:
    """A page of the courses in id order: all, or the one with ``code`` in any case."""
    if code is None:
        return _LIST.page({}, limit, offset)  # type: ignore[return-value]
    return _LIST_WITH_CODE.page({"code": code}, limit, offset)  # type: ignore[return-value]


_COURSE = Statement(select(_courses).where(_courses.c.id == _course_id))


def get_course(course_id: int) -> dict[str, Any]:
    """The course with ``course_id``; :class:`CourseNotFound` if there is none."""
    course = _COURSE.first({"course_id": course_id})
    if course is None:
        raise CourseNotFound(course_id)
    return course


#: What a request may set: every column but the id and the timestamps.
_FIELDS = ("code", "title", "description", "credits", "capacity", "waitlist_capacity")
_CREATE = Statement(
    insert(_courses)
    .values(
        {name: bindparam(name) for name in _FIELDS} | {"created_at": now(), "updated_at": now()}
    )
    .returning(*_courses.c)
)


def create_course(data: Mapping[str, Any]) -> dict[str, Any]:
    """Add a course with every field of :data:`_FIELDS`; :class:`CourseCodeTaken` if
    its code is in use in any case."""
    try:
        with transaction():
            return _CREATE.first(data)  # type: ignore[return-value]
    except IntegrityError as error:
        # The unique index on lower(code) is the guard against two requests racing.
        raise CourseCodeTaken(data["code"]) from error


_UPDATE = Statement(
    update(_courses)
    .where(_courses.c.id == _course_id)
    .values({name: bindparam(name) for name in _FIELDS})
    .returning(*_courses.c)
)
# Locked as enrolling locks it (see enrollments): capacity changes and enrollments of
# one course take turns.
_LOCK = Statement(
    select(_courses).where(_courses.c.id == _course_id).with_for_update(key_share=True)
)


def update_course(
    course_id: int, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> dict[str, Any]:
    """Apply a partial update to a course, if ``precondition`` accepts it as it is.

    Under the course's row lock: a capacity below the current enrollment raises
    :class:`CapacityBelowEnrollment`, a waitlist capacity below the students waiting
    :class:`CapacityBelowWaitlist`, and new seats go to the first in line at once.
    """
    with transaction():
        course = _LOCK.first({"course_id": course_id})
        if course is None:
            raise CourseNotFound(course_id)
        if precondition is not None:
            precondition(course)
        changed = {name: value for name, value in changes.items() if course[name] != value}
        if not changed:
            return course
        if "capacity" in changed:
            check_new_capacity(course_id, changed["capacity"])
        if "waitlist_capacity" in changed:
            waitlists.check_new_waitlist_capacity(course_id, changed["waitlist_capacity"])
        try:
            values = {name: changed.get(name, course[name]) for name in _FIELDS}
            course = _UPDATE.first(values | {"course_id": course_id})  # type: ignore[assignment]
        except IntegrityError as error:
            raise CourseCodeTaken(changed["code"]) from error
        if "capacity" in changed:
            waitlists.fill_free_seats(course_id, course["capacity"], "capacity-raised")
        return course


_DELETE = Statement(delete(_courses).where(_courses.c.id == _course_id).returning(_courses.c.id))


def delete_course(course_id: int, precondition: Precondition | None = None) -> None:
    """Delete a course that nobody is enrolled in or waiting for, if ``precondition``
    accepts it as it is; else :class:`CourseHasEnrollments`.

    The foreign keys' ON DELETE RESTRICT is the guard, so an enrollment that commits
    while we delete cannot be orphaned.
    """
    try:
        with transaction():
            if precondition is not None:
                course = _LOCK.first({"course_id": course_id})
                if course is None:
                    raise CourseNotFound(course_id)
                precondition(course)
            if _DELETE.first({"course_id": course_id}) is None:
                raise CourseNotFound(course_id)
    except IntegrityError as error:
        raise CourseHasEnrollments(course_id) from error
