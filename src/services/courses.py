"""Operations on courses: the offerings of a term, each with its own seats."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from src.database import Listing, Page, Statement, like_pattern, now, order_keys, transaction
from src.exceptions import CourseCodeTaken, CourseHasEnrollments, CourseNotFound
from src.models import Course, CourseInstructor, StudentCourse, WaitlistEntry, Withdrawal
from src.services import (
    COURSE_COLUMNS,
    Precondition,
    course_columns,
    enrolled_count,
    terms,
    waitlists,
)
from src.services.enrollments import check_new_capacity

_courses = Course.__table__
_assignments = CourseInstructor.__table__
_course_id = bindparam("course_id")
_columns = course_columns()

#: The filters of ``GET /courses``, each a condition on its bound parameter.
FILTERS = {
    "term_id": _courses.c.term_id == bindparam("term_id"),
    "instructor_id": exists().where(
        _assignments.c.course_id == _courses.c.id,
        _assignments.c.instructor_id == bindparam("instructor_id"),
    ),
    "code": func.lower(_courses.c.code) == func.lower(bindparam("code")),
    # The pattern is lower-cased by the caller; the trigram indexes serve these.
    "q": or_(
        func.lower(_courses.c.code).like(bindparam("q"), escape="\\"),
        func.lower(_courses.c.title).like(bindparam("q"), escape="\\"),
    ),
    "has_seats": or_(_courses.c.capacity.is_(None), _courses.c.capacity > enrolled_count),
    "full": and_(_courses.c.capacity.is_not(None), _courses.c.capacity <= enrolled_count),
}
#: The orders ``sort`` may ask for (a leading ``-``: descending); ties go by id.
SORTS = ("code", "-code", "title", "-title", "created_at", "-created_at")


@cache
def _listing(filters: tuple[str, ...], sort: str | None) -> Listing:
    """The listing of courses with these filters, in this order: built once per
    combination, as every statement is."""
    where = [FILTERS[name] for name in filters]
    order = (sort, "id") if sort else ("id",)
    return Listing(
        select(*_columns).where(*where).order_by(*order_keys(_courses.c, order)),
        select(func.count()).select_from(_courses).where(*where),
        COURSE_COLUMNS,
        order=order,
    )


def list_courses(
    limit: int, offset: int, filters: Mapping[str, Any] | None = None, sort: str | None = None
) -> Page:
    """A page of the courses that pass every filter of :data:`FILTERS` given (``has_seats``
    true or false), in id order or by ``sort`` (one of :data:`SORTS`, then by id)."""
    params = dict(filters or {})
    if "has_seats" in params:
        params["has_seats" if params.pop("has_seats") else "full"] = True
    if "q" in params:
        params["q"] = like_pattern(params["q"].lower())
    names = tuple(sorted(params))
    page = _listing(names, sort).page(params, limit, offset)
    return page  # type: ignore[return-value]


_COURSE = Statement(select(*_columns).where(_courses.c.id == _course_id))


def get_course(course_id: int) -> dict[str, Any]:
    """The course with ``course_id``; :class:`CourseNotFound` if there is none."""
    course = _COURSE.first({"course_id": course_id})
    if course is None:
        raise CourseNotFound(course_id)
    return course


#: What a request may set: every column but the id and the timestamps.
_FIELDS = (
    "term_id", "code", "title", "description", "credits", "capacity", "waitlist_capacity",
    "meetings", "prerequisites", "corequisites",
)  # fmt: skip
_CREATE = Statement(
    insert(_courses)
    .values(
        {name: bindparam(name) for name in _FIELDS} | {"created_at": now(), "updated_at": now()}
    )
    .returning(_courses.c.id)
)


def create_course(data: Mapping[str, Any]) -> dict[str, Any]:
    """Add a course to its term (``term_id``, or the default term when it is ``None``)
    with every field of :data:`_FIELDS`; :class:`TermNotFound` if there is no such
    term, :class:`CourseCodeTaken` if its code is in use in the term in any case."""
    with transaction():
        term = terms.term_for_course(data.get("term_id"))
        try:
            course_id = _CREATE.scalar({**data, "term_id": term["id"]})
        except IntegrityError as error:
            # The unique index on (term_id, lower(code)) is the guard against two
            # requests racing.
            raise CourseCodeTaken(data["code"], term["code"]) from error
        return get_course(course_id)


_UPDATE = Statement(
    update(_courses)
    .where(_courses.c.id == _course_id)
    .values({name: bindparam(name) for name in _FIELDS} | {"updated_at": now()})
)
# Locked as enrolling locks it (see enrollments): capacity changes and enrollments of
# one course take turns.
_LOCK = Statement(
    select(*_columns)
    .where(_courses.c.id == _course_id)
    .with_for_update(of=_courses, key_share=True)
)
_enrollments = StudentCourse.__table__
_entries = WaitlistEntry.__table__
_withdrawals = Withdrawal.__table__
_HAS_STUDENTS = Statement(
    select(
        exists().where(_enrollments.c.course_id == _course_id)
        | exists().where(_entries.c.course_id == _course_id)
        | exists().where(_withdrawals.c.course_id == _course_id)
    )
)


def update_course(
    course_id: int, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> dict[str, Any]:
    """Apply a partial update to a course, if ``precondition`` accepts it as it is.

    Under the course's row lock: a capacity below the current enrollment raises
    :class:`CapacityBelowEnrollment`, a waitlist capacity below the students waiting
    :class:`CapacityBelowWaitlist`, a new term while students are enrolled, waiting or
    withdrawn :class:`CourseHasEnrollments`; new seats go to the first in line at once.
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
        if "term_id" in changed and _HAS_STUDENTS.scalar({"course_id": course_id}):
            raise CourseHasEnrollments(course_id, moving=True)
        values = {name: changed.get(name, course[name]) for name in _FIELDS}
        # A new term must exist (and stay, until this commits); a new code or term may be
        # taken there, which the error names.
        term = (
            terms.term_for_course(values["term_id"]) if {"term_id", "code"} & set(changed) else None
        )
        try:
            _UPDATE.run(values | {"course_id": course_id})
        except IntegrityError as error:
            raise CourseCodeTaken(values["code"], term["code"] if term else "") from error
        if "capacity" in changed:
            waitlists.fill_free_seats(course_id, changed["capacity"], "capacity-raised")
        elif {"prerequisites", "corequisites", "meetings", "credits"} & set(changed):
            # Rules the line broke may pass now: seats left free for them are theirs.
            waitlists.fill_free_seats(course_id, values["capacity"], "rules-changed")
        # Read again: the seats filled above count.
        return get_course(course_id)


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
