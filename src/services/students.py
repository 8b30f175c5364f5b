"""Operations on students."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, union, update
from sqlalchemy.exc import IntegrityError

from src.database import (
    Listing,
    Page,
    Statement,
    like_pattern,
    now,
    order_keys,
    savepoint,
    transaction,
)
from src.exceptions import EmailTaken, StudentBusy, StudentNotFound
from src.models import Student, StudentCourse, WaitlistEntry
from src.models.student import email_key
from src.services import STUDENT_COLUMNS, Precondition, events, waitlists
from src.services.enrollments import lock_courses

_students = Student.__table__
_student_id = bindparam("student_id")
#: The filters of ``GET /students``, each a condition on its bound parameter.
FILTERS = {
    # email_key: the address as uniqueness compares it, the same on every database.
    "email": _students.c.email_key == bindparam("email"),
    # The pattern is lower-cased by the caller.
    "q": or_(
        func.lower(_students.c.first_name).like(bindparam("q"), escape="\\"),
        func.lower(_students.c.last_name).like(bindparam("q"), escape="\\"),
        _students.c.email_key.like(bindparam("q"), escape="\\"),
    ),
}


#: The orders ``sort`` may ask for (a leading ``-``: descending); ties go by id.
SORTS = ("last_name", "-last_name", "email", "created_at", "-created_at")


@cache
def _listing(filters: tuple[str, ...], sort: str | None) -> Listing:
    """The listing of students with these filters, in this order (then by id)."""
    where = [FILTERS[name] for name in filters]
    order = (sort, "id") if sort else ("id",)
    return Listing(
        select(*_students.c).where(*where).order_by(*order_keys(_students.c, order)),
        select(func.count()).select_from(_students).where(*where),
        STUDENT_COLUMNS,
        order=order,
    )


def list_students(
    limit: int, offset: int, filters: Mapping[str, Any] | None = None, sort: str | None = None
) -> Page:
    """A page of the students that pass the filters given: ``email`` (the address, in
    any case) and ``q`` (text in a name or the email, any case); in id order, or by
    ``sort`` (one of :data:`SORTS`) then by id."""
    params = dict(filters or {})
    if "email" in params:
        params["email"] = email_key(params["email"])
    if "q" in params:
        params["q"] = like_pattern(params["q"].lower())
    return _listing(tuple(sorted(params)), sort).page(params, limit, offset)  # type: ignore[return-value]


_STUDENT = Statement(select(_students).where(_students.c.id == _student_id))


def get_student(student_id: int) -> dict[str, Any]:
    """The student with ``student_id``; :class:`StudentNotFound` if there is none."""
    student = _STUDENT.first({"student_id": student_id})
    if student is None:
        raise StudentNotFound(student_id)
    return student


#: What a request may set: every column but the id, the timestamps and the email key.
_FIELDS = ("first_name", "last_name", "email")
_CREATE = Statement(
    insert(_students)
    .values(
        {name: bindparam(name) for name in (*_FIELDS, "email_key")}
        | {"created_at": now(), "updated_at": now()}
    )
    .returning(*_students.c)
)


def create_student(data: Mapping[str, Any]) -> dict[str, Any]:
    """Add a student; :class:`EmailTaken` if the address is in use in any case."""
    try:
        with transaction():
            return _CREATE.first({**data, "email_key": email_key(data["email"])})  # type: ignore[return-value]
    except IntegrityError as error:
        # The unique indexes on email_key (and lower(email)) are the only constraints a
        # valid student can break, and the guard against two requests racing.
        raise EmailTaken() from error


# Locked against other changes of the student (not against enrollments).
_LOCK = Statement(
    select(_students).where(_students.c.id == _student_id).with_for_update(key_share=True)
)
_UPDATE = Statement(
    update(_students)
    .where(_students.c.id == _student_id)
    .values({name: bindparam(name) for name in (*_FIELDS, "email_key")})
    .returning(*_students.c)
)


def update_student(
    student_id: int, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> dict[str, Any]:
    """Apply a partial update to a student, if ``precondition`` accepts it as it is."""
    try:
        with transaction():
            student = _LOCK.first({"student_id": student_id})
            if student is None:
                raise StudentNotFound(student_id)
            if precondition is not None:
                precondition(student)
            changed = {name: value for name, value in changes.items() if student[name] != value}
            if not changed:
                return student
            values = {name: changed.get(name, student[name]) for name in _FIELDS}
            values["email_key"] = (
                email_key(changed["email"]) if "email" in changed else student["email_key"]
            )
            return _UPDATE.first(values | {"student_id": student_id})  # type: ignore[return-value]
    except IntegrityError as error:
        raise EmailTaken() from error


_COURSES_OF_STUDENT = Statement(
    union(
        select(StudentCourse.course_id).where(StudentCourse.student_id == _student_id),
        select(WaitlistEntry.course_id).where(WaitlistEntry.student_id == _student_id),
    )
)
_LOCK_FOR_DELETE = Statement(
    select(_students).where(_students.c.id == _student_id).with_for_update()
)
#: Attempts to lock a student's courses before another transaction adds one.
_LOCK_ATTEMPTS = 10


class _JoinedMeanwhile(Exception):
    """The student took a seat or a place in a course that is not locked yet."""


def _lock_student_and_courses(student_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Lock the courses the student holds a seat or a place in, then the student.

    Courses first, in id order, as enrolling locks its course before the student's row
    (its foreign-key check): the other order could deadlock. A course the student
    joined between the first read and the student's lock means starting again, with
    the locks of the attempt released.
    """
    params = {"student_id": student_id}
    for _ in range(_LOCK_ATTEMPTS):
        seen = {row[0] for row in _COURSES_OF_STUDENT.rows(params)}
        try:
            with savepoint():
                courses = lock_courses(seen)
                student = _LOCK_FOR_DELETE.first(params)
                if student is None:
                    raise StudentNotFound(student_id)
                if not {row[0] for row in _COURSES_OF_STUDENT.rows(params)} <= seen:
                    raise _JoinedMeanwhile
        except _JoinedMeanwhile:
            continue
        return student, courses
    raise StudentBusy(student_id)


_enrollments, _entries = StudentCourse.__table__, WaitlistEntry.__table__
_DROP_ALL = events.Recorded(
    delete(_enrollments)
    .where(_enrollments.c.student_id == _student_id)
    .returning(_enrollments.c.student_id, _enrollments.c.course_id),
    "dropped",
)
_LEAVE_ALL_LINES = events.Recorded(
    delete(_entries)
    .where(_entries.c.student_id == _student_id)
    .returning(_entries.c.student_id, _entries.c.course_id),
    "left_waitlist",
)
_DELETE = Statement(delete(_students).where(_students.c.id == _student_id))


def delete_student(student_id: int, precondition: Precondition | None = None) -> None:
    """Delete a student, if ``precondition`` accepts it as it is. Each enrollment is
    recorded as dropped and each place in line as left (reason ``student-deleted``),
    and the seats they free go to the first in line.
    """
    with transaction():
        student, courses = _lock_student_and_courses(student_id)
        if precondition is not None:
            precondition(student)
        params = {"student_id": student_id}
        _DROP_ALL.execute(params, reason="student-deleted")
        _LEAVE_ALL_LINES.execute(params, reason="student-deleted")
        _DELETE.run(params)
        for course in courses:
            if waitlists.has_waitlist(course):
                waitlists.fill_free_seats(course["id"], course["capacity"], "seat-freed")
