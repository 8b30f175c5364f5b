"""Enrolling students in courses, and the capacity rule.

Concurrency: every change that depends on how many students a course has (enrolling,
lowering its capacity) first locks the course's row, so such changes on one course
happen one after another, and counts the enrollments in a later statement, which sees
every enrollment committed before the lock was granted. The primary key of
``student_courses`` remains the last guard against a duplicate enrollment.

An enrollment is returned as a row of the resource on its other side (the course's
columns for a student's courses, the student's for a roster) plus ``enrolled_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Integer,
    RowMapping,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from src.exceptions import (
    AlreadyEnrolled,
    CapacityBelowEnrollment,
    CourseFull,
    CourseNotFound,
    DomainError,
    NotEnrolled,
    StudentNotFound,
)
from src.extensions import db
from src.models import Course, Student, StudentCourse
from src.services import PagedQuery, events, execute

_students = Student.__table__
_courses = Course.__table__
_enrollments = StudentCourse.__table__
_student_id = bindparam("student_id")
_course_id = bindparam("course_id")

_ENROLLED_COURSES = (
    select(*_courses.c, _enrollments.c.enrolled_at)
    .join_from(_enrollments, _courses, _enrollments.c.course_id == _courses.c.id)
    .order_by(_enrollments.c.enrolled_at, _enrollments.c.course_id)
)
#: A student's courses with ``enrolled_at``, oldest enrollment first, then by course id.
STUDENT_COURSES = PagedQuery(_ENROLLED_COURSES.where(_enrollments.c.student_id == _student_id))
#: A course's students with ``enrolled_at``, oldest enrollment first, then by student id.
COURSE_STUDENTS = PagedQuery(
    select(*_students.c, _enrollments.c.enrolled_at)
    .join_from(_enrollments, _students, _enrollments.c.student_id == _students.c.id)
    .where(_enrollments.c.course_id == _course_id)
    .order_by(_enrollments.c.enrolled_at, _enrollments.c.student_id)
)
_ENROLLMENT = _ENROLLED_COURSES.where(
    _enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id
)


def _counted(owner: Any, column: Any, owner_id: Any) -> Any:
    # NULL when the owner does not exist, else its number of enrollments: one statement
    # answers the 404 check and the list's total.
    count = select(func.count()).where(column == owner_id).scalar_subquery()
    return select(count).where(owner.c.id == owner_id)


#: How many courses a student has; NULL if there is no such student.
STUDENT_TOTAL = _counted(_students, _enrollments.c.student_id, _student_id)
#: How many students a course has; NULL if there is no such course.
COURSE_TOTAL = _counted(_courses, _enrollments.c.course_id, _course_id)
_STUDENT_EXISTS = select(exists().where(_students.c.id == _student_id))
_COURSE_EXISTS = select(exists().where(_courses.c.id == _course_id))
# FOR NO KEY UPDATE excludes other enrollments into (and capacity changes of) this
# course, but not the foreign-key checks of enrollments into other courses.
_LOCK_COURSE = (
    select(*_courses.c, exists().where(_students.c.id == _student_id).label("student_exists"))
    .where(_courses.c.id == _course_id)
    .with_for_update(of=_courses, key_share=True)
)
#: How many students a course has (the course's row lock makes it final).
SEATS_TAKEN = select(func.count()).where(_enrollments.c.course_id == _course_id)
_capacity = bindparam("capacity", type_=Integer)
# One statement on the usual path: insert unless the course is full or the student is
# already in it (reliable under the course's lock), and return when they enrolled.
_INSERT_IF_ROOM = (
    insert(_enrollments)
    .from_select(
        ["student_id", "course_id"],
        select(_student_id, _course_id).where(
            or_(
                _capacity.is_(None),
                SEATS_TAKEN.scalar_subquery() < _capacity,
            ),
            ~exists().where(
                _enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id
            ),
        ),
    )
    .returning(_enrollments.c.student_id, _enrollments.c.course_id, _enrollments.c.enrolled_at)
)
_ENROLL = events.Recorded(_INSERT_IF_ROOM, "enrolled")
_UNENROLL = events.Recorded(
    delete(_enrollments)
    .where(_enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id)
    .returning(_enrollments.c.student_id, _enrollments.c.course_id),
    "dropped",
)


def _missing_enrollment_error(student_id: int, course_id: int) -> DomainError:
    """The 404 that fits when an enrollment is not there: the student, the course, or it."""
    if not execute(_STUDENT_EXISTS, {"student_id": student_id}).scalar():
        return StudentNotFound(student_id)
    if not execute(_COURSE_EXISTS, {"course_id": course_id}).scalar():
        return CourseNotFound(course_id)
    return NotEnrolled(student_id, course_id)


def _total(statement: Any, key: str, owner_id: int, missing: Callable[[int], DomainError]) -> int:
    total = execute(statement, {key: owner_id}).scalar()
    if total is None:
        raise missing(owner_id)
    return total


def count_student_enrollments(student_id: int) -> int:
    """How many courses the student is enrolled in; :class:`StudentNotFound` if none such."""
    return _total(STUDENT_TOTAL, "student_id", student_id, StudentNotFound)


def count_course_enrollments(course_id: int) -> int:
    """How many students the course has; :class:`CourseNotFound` if none such."""
    return _total(COURSE_TOTAL, "course_id", course_id, CourseNotFound)


def get_enrollment(student_id: int, course_id: int) -> RowMapping:
    """The course the student is enrolled in, with ``enrolled_at``.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound` or :class:`NotEnrolled`.
    """
    enrollment = _find_enrollment(student_id, course_id)
    if enrollment is None:
        raise _missing_enrollment_error(student_id, course_id)
    return enrollment


def _find_enrollment(student_id: int, course_id: int) -> RowMapping | None:
    """The enrolled course with ``enrolled_at`` (one statement), or ``None``."""
    params = {"student_id": student_id, "course_id": course_id}
    return execute(_ENROLLMENT, params).mappings().first()


def _lock_course(course_id: int, student_id: int) -> dict[str, Any]:
    """Lock the course's row and check that both the course and the student exist."""
    params = {"student_id": student_id, "course_id": course_id}
    row = execute(_LOCK_COURSE, params).mappings().first()
    if row is None:
        if not execute(_STUDENT_EXISTS, params).scalar():
            raise StudentNotFound(student_id)
        raise CourseNotFound(course_id)
    course = dict(row)
    if not course.pop("student_exists"):
        raise StudentNotFound(student_id)
    return course


def enroll(
    student_id: int, course_id: int, *, idempotent: bool = False
) -> tuple[RowMapping | dict[str, Any], bool]:
    """Enroll a student in a course; return the enrolled course and whether it is new.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound`, :class:`CourseFull`, and
    :class:`AlreadyEnrolled` unless ``idempotent``, in which case an existing
    enrollment is returned as it is.
    """
    course = _lock_course(course_id, student_id)
    params = {"student_id": student_id, "course_id": course_id}
    try:
        inserted = _ENROLL.execute({**params, "capacity": course["capacity"]})
    except IntegrityError as error:
        # The course lock keeps a second enrollment of the pair out, so this is the
        # student deleted meanwhile; the primary key stays the last guard all the same.
        db.session.rollback()
        existing = _find_enrollment(student_id, course_id)
        if existing is None:
            raise StudentNotFound(student_id) from error
        if not idempotent:
            raise AlreadyEnrolled(student_id, course_id) from error
        return existing, False
    if inserted:
        return {**course, "enrolled_at": inserted[0]["enrolled_at"]}, True
    # Not inserted: already enrolled, or no seat left. Which, still under the lock:
    existing = _find_enrollment(student_id, course_id)
    if existing is None:
        raise CourseFull(course_id, course["capacity"])
    if not idempotent:
        raise AlreadyEnrolled(student_id, course_id)
    return existing, False


def unenroll(student_id: int, course_id: int) -> None:
    """Remove a student from a course; the 404s as in :func:`get_enrollment`."""
    if not _UNENROLL.execute({"student_id": student_id, "course_id": course_id}):
        raise _missing_enrollment_error(student_id, course_id)


def check_new_capacity(course_id: int, capacity: int | None) -> None:
    """Refuse a capacity below the course's current enrollment (``None`` is no limit).

    The caller must hold the course's row lock, so no enrollment slips in between
    this count and the update.
    """
    if capacity is None:
        return
    enrolled = execute(SEATS_TAKEN, {"course_id": course_id}).scalar_one()
    if enrolled > capacity:
        raise CapacityBelowEnrollment(capacity, enrolled)
