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

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    Integer,
    RowMapping,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from src.exceptions import (
    AlreadyEnrolled,
    AlreadyWaitlisted,
    CapacityBelowEnrollment,
    CourseFull,
    CourseNotFound,
    DomainError,
    NotEnrolled,
    StudentNotFound,
)
from src.models import Course, Student, StudentCourse, WaitlistEntry
from src.models.base import UTCDateTime
from src.services import (
    COURSE_COLUMNS,
    STUDENT_COLUMNS,
    Listing,
    PagedQuery,
    Prebuilt,
    connection,
    events,
    execute,
    waitlists,
)

_students = Student.__table__
_courses = Course.__table__
_enrollments = StudentCourse.__table__
_student_id = bindparam("student_id")
_course_id = bindparam("course_id")

_ENROLLED_COURSES = (
    select(*_courses.c, _enrollments.c.enrolled_at, literal("enrolled").label("status"))
    .join_from(_enrollments, _courses, _enrollments.c.course_id == _courses.c.id)
    .order_by(_enrollments.c.enrolled_at, _enrollments.c.course_id)
)
#: A student's courses with ``enrolled_at``, oldest enrollment first, then by course id.
STUDENT_COURSES = PagedQuery(_ENROLLED_COURSES.where(_enrollments.c.student_id == _student_id))
_ROSTER = (
    select(*_students.c, _enrollments.c.enrolled_at)
    .join_from(_enrollments, _students, _enrollments.c.student_id == _students.c.id)
    .where(_enrollments.c.course_id == _course_id)
    .order_by(_enrollments.c.enrolled_at, _enrollments.c.student_id)
)
#: A course's students with ``enrolled_at``, oldest enrollment first, then by student id.
COURSE_STUDENTS = PagedQuery(_ROSTER)
_ENROLLMENT = _ENROLLED_COURSES.where(
    _enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id
)
_WAITING = waitlists.WAITING_COURSES_QUERY.where(_courses.c.id == _course_id)


def _counted(owner: Any, column: Any, owner_id: Any) -> Any:
    # NULL when the owner does not exist, else its number of enrollments: one statement
    # answers the 404 check and the list's total.
    count = select(func.count()).where(column == owner_id).scalar_subquery()
    return select(count).where(owner.c.id == owner_id)


#: How many courses a student has; NULL if there is no such student.
STUDENT_TOTAL = _counted(_students, _enrollments.c.student_id, _student_id)
_entries = WaitlistEntry.__table__
_STUDENT_WAITING_TOTAL = _counted(_students, _entries.c.student_id, _student_id)
_STUDENT_ALL_TOTAL = select(
    STUDENT_TOTAL.scalar_subquery() + _STUDENT_WAITING_TOTAL.scalar_subquery()
)
# Typed nulls: a union's rows take their types from its first select.
_no_time = type_coerce(null(), UTCDateTime())
_no_place = type_coerce(null(), Integer())
# Enrolled courses first, oldest first; then the courses waited for, in joining order.
_STUDENT_ALL = PagedQuery(
    union_all(
        select(
            *_courses.c,
            _enrollments.c.enrolled_at,
            literal("enrolled").label("status"),
            _no_place.label("waitlist_position"),
            _no_time.label("waitlisted_at"),
            literal(0).label("part"),
            _enrollments.c.enrolled_at.label("since"),
        )
        .join_from(_enrollments, _courses, _enrollments.c.course_id == _courses.c.id)
        .where(_enrollments.c.student_id == _student_id),
        select(
            *_courses.c,
            _no_time.label("enrolled_at"),
            literal("waitlisted").label("status"),
            waitlists.position_of(_entries).label("waitlist_position"),
            _entries.c.waitlisted_at,
            literal(1).label("part"),
            _entries.c.waitlisted_at.label("since"),
        )
        .join_from(_entries, _courses, _entries.c.course_id == _courses.c.id)
        .where(_entries.c.student_id == _student_id),
    ).order_by("part", "since", "id")
)
#: For each ``?status=``: a student's courses, and how many there are (NULL if there is
#: no such student).
STUDENT_LISTS = {
    "enrolled": (STUDENT_COURSES, STUDENT_TOTAL),
    "waitlisted": (waitlists.STUDENT_WAITING, _STUDENT_WAITING_TOTAL),
    "all": (_STUDENT_ALL, _STUDENT_ALL_TOTAL),
}
#: How many students a course has; NULL if there is no such course.
COURSE_TOTAL = _counted(_courses, _enrollments.c.course_id, _course_id)
#: A student's courses (``enrolled``) and their total in one statement; no row when
#: there is no such student.
STUDENT_COURSES_LISTING = Listing(
    STUDENT_COURSES.query,
    STUDENT_TOTAL,
    (*COURSE_COLUMNS, "enrolled_at"),
    order=("enrolled_at", "id"),
)
#: A course's roster and its total in one statement; no row when there is no such course.
ROSTER_LISTING = Listing(
    _ROSTER, COURSE_TOTAL, (*STUDENT_COLUMNS, "enrolled_at"), order=("enrolled_at", "id")
)
_STUDENT_EXISTS = select(exists().where(_students.c.id == _student_id))
_COURSE_EXISTS = select(exists().where(_courses.c.id == _course_id))
# FOR NO KEY UPDATE excludes other enrollments into (and capacity changes of) this
# course, but not the foreign-key checks of enrollments into other courses.
_LOCK_COURSE = (
    select(*_courses.c, exists().where(_students.c.id == _student_id).label("student_exists"))
    .where(_courses.c.id == _course_id)
    .with_for_update(of=_courses, key_share=True)
)
# Several courses, locked as _LOCK_COURSE locks one, in id order: two transactions that
# lock overlapping sets always wait for each other in the same order, never in a circle.
_LOCK_COURSES = (
    select(_courses.c.id, _courses.c.capacity, _courses.c.waitlist_capacity)
    .where(_courses.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_courses.c.id)
    .with_for_update(key_share=True)
)


_LOCK_COURSE_PREBUILT = Prebuilt(_LOCK_COURSE)


def lock_courses(course_ids: Iterable[int]) -> list[RowMapping]:
    """Lock these courses in id order; return ``id``, ``capacity`` and
    ``waitlist_capacity`` of each that exists."""
    ids = sorted(set(course_ids))
    if not ids:
        return []
    return list(execute(_LOCK_COURSES, {"ids": ids}).mappings().all())


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
# On SQLite (no data-modifying CTE): the insert and its event; then, if nothing was
# inserted, _ENROLLED_AT.
_ENROLL = events.Recorded(_INSERT_IF_ROOM, "enrolled")
_ENROLLED_AT = select(_enrollments.c.enrolled_at).where(
    _enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id
)
# On PostgreSQL, one statement: the insert and its event, and else the enrollment that
# was there already (the statement's snapshot, taken under the course's lock, sees it;
# it does not see the row the statement itself inserts). No row: the course is full.
_inserted = _INSERT_IF_ROOM.cte("changed")
_ENROLL_OR_FIND = Prebuilt(
    union_all(
        select(_inserted.c.enrolled_at, literal(True).label("created")),
        _ENROLLED_AT.add_columns(literal(False).label("created")),
    ).add_cte(events.record_from(_inserted, "enrolled"))
)
# Unenrolling on SQLite (one writer at a time): after _LOCK_COURSE.
_UNENROLL = events.Recorded(
    delete(_enrollments)
    .where(_enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id)
    .returning(_enrollments.c.student_id, _enrollments.c.course_id),
    "dropped",
)


# On PostgreSQL, unenrolling is one statement: lock the course (as _LOCK_COURSE does),
# then delete the enrollment and record it. The delete names the course through the
# locked row, so it runs after the lock is granted; the seat is handed on in a later
# statement, under the same lock.
_locked = (
    select(
        _courses.c.id,
        _courses.c.capacity,
        _courses.c.waitlist_capacity,
        exists().where(_students.c.id == _student_id).label("student_exists"),
    )
    .where(_courses.c.id == _course_id)
    .with_for_update(of=_courses, key_share=True)
    .cte("course")
)
_dropped = (
    delete(_enrollments)
    .where(
        _enrollments.c.student_id == _student_id,
        _enrollments.c.course_id == select(_locked.c.id).scalar_subquery(),
    )
    .returning(_enrollments.c.student_id, _enrollments.c.course_id)
    .cte("changed")
)
_LOCK_AND_UNENROLL = Prebuilt(
    select(
        _locked.c.id,
        _locked.c.capacity,
        _locked.c.waitlist_capacity,
        _locked.c.student_exists,
        select(func.count()).select_from(_dropped).scalar_subquery().label("dropped"),
    ).add_cte(events.record_from(_dropped, "dropped"))
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


def list_student_courses(student_id: int, status: str) -> tuple[PagedQuery, int]:
    """The list of the student's courses with ``status`` (``enrolled``, ``waitlisted``
    or ``all``), and its length; :class:`StudentNotFound` if there is no such student."""
    query, total = STUDENT_LISTS[status]
    return query, _total(total, "student_id", student_id, StudentNotFound)


def get_enrollment(student_id: int, course_id: int) -> RowMapping | dict[str, Any]:
    """The course the student is enrolled in (with ``enrolled_at``) or waits for (with
    ``waitlist_position`` and ``waitlisted_at``), and its ``status``.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound` or :class:`NotEnrolled`.
    """
    enrollment = _find_enrollment(student_id, course_id)
    if enrollment is not None:
        return enrollment
    waiting = _find_place(student_id, course_id)
    if waiting is not None:
        return waiting
    raise _missing_enrollment_error(student_id, course_id)


def _find_enrollment(student_id: int, course_id: int) -> RowMapping | None:
    """The enrolled course with ``enrolled_at`` (one statement), or ``None``."""
    params = {"student_id": student_id, "course_id": course_id}
    return execute(_ENROLLMENT, params).mappings().first()


def _find_place(student_id: int, course_id: int) -> RowMapping | None:
    """The course the student waits for, with their place in line, or ``None``."""
    params = {"student_id": student_id, "course_id": course_id}
    return execute(_WAITING, params).mappings().first()


def _lock_course(course_id: int, student_id: int) -> dict[str, Any]:
    """Lock the course's row and check that both the course and the student exist."""
    params = {"student_id": student_id, "course_id": course_id}
    found = _LOCK_COURSE_PREBUILT.mappings(params)
    row = found[0] if found else None
    if row is None:
        if not execute(_STUDENT_EXISTS, params).scalar():
            raise StudentNotFound(student_id)
        raise CourseNotFound(course_id)
    course = dict(row)
    if not course.pop("student_exists"):
        raise StudentNotFound(student_id)
    return course


def _enroll_or_find(params: dict[str, Any], capacity: int | None) -> tuple[Any, bool]:
    """Enroll the student if the locked course has room and they are not in it yet.

    Returns when they enrolled and whether it was just now; ``(None, False)`` when they
    were not enrolled and there is no seat left.
    """
    values = {**params, "capacity": capacity}
    if connection().dialect.name == "postgresql":
        found = _ENROLL_OR_FIND.mappings(values | events.recorded_by())
        return (found[0]["enrolled_at"], found[0]["created"]) if found else (None, False)
    inserted = _ENROLL.execute(values)
    if inserted:
        return inserted[0]["enrolled_at"], True
    return execute(_ENROLLED_AT, params).scalar(), False


def _integrity_error(error: IntegrityError, student_id: int, course_id: int) -> DomainError:
    """The domain error behind a constraint the insert broke under the course's lock.

    The lock keeps a second enrollment (or place in line) of the pair out, so this is
    the student's foreign key: the student was deleted meanwhile. The primary key and
    the unique constraint stay the last guard all the same.
    """
    code = getattr(error.orig, "pgcode", None)
    if code == "23503" or "FOREIGN KEY" in str(error.orig):
        return StudentNotFound(student_id)
    return AlreadyEnrolled(student_id, course_id)


#: What :func:`enroll` did.
CREATED, EXISTING, WAITLISTED = "created", "existing", "waitlisted"


def enroll(
    student_id: int, course_id: int, *, idempotent: bool = False, waitlist: bool = False
) -> tuple[RowMapping | dict[str, Any], str]:
    """Enroll a student in a course, or with ``waitlist`` put them in its line when it is
    full; return the course as :func:`get_enrollment` shows it, and :data:`CREATED`,
    :data:`WAITLISTED` or (``idempotent`` only) :data:`EXISTING`.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound`, :class:`AlreadyWaitlisted`,
    :class:`CourseFull`, :class:`WaitlistFull` (see ``waitlists.join``), and
    :class:`AlreadyEnrolled` unless ``idempotent``, in which case an existing
    enrollment is returned as it is.
    """
    course = _lock_course(course_id, student_id)
    params = {"student_id": student_id, "course_id": course_id}
    try:
        # Nobody waits while a seat is free (see waitlists), so a free seat is this
        # student's to take.
        enrolled_at, created = _enroll_or_find(params, course["capacity"])
    except IntegrityError as error:
        # The transaction is the caller's to roll back (the view's transaction() does);
        # a service never discards writes it did not make.
        raise _integrity_error(error, student_id, course_id) from error
    if enrolled_at is not None:
        enrollment = {**course, "enrolled_at": enrolled_at, "status": "enrolled"}
        if created:
            return enrollment, CREATED
        if not idempotent:
            raise AlreadyEnrolled(student_id, course_id)
        return enrollment, EXISTING
    # No seat left.
    if waitlists.has_waitlist(course) and _find_place(student_id, course_id) is not None:
        raise AlreadyWaitlisted(student_id, course_id)
    if not waitlist:
        raise CourseFull(course_id, course["capacity"])
    try:
        return waitlists.join(student_id, course), WAITLISTED
    except IntegrityError as error:
        raise _integrity_error(error, student_id, course_id) from error


def unenroll(student_id: int, course_id: int) -> None:
    """Drop a student's enrollment, giving the seat to the first in line, or take them
    out of the course's line; the 404s as in :func:`get_enrollment`.

    The course is locked first, as by enrolling: the seat is handed on before any
    other enrollment can see it free.
    """
    params = {"student_id": student_id, "course_id": course_id}
    if connection().dialect.name == "postgresql":
        found = _LOCK_AND_UNENROLL.mappings(params | events.recorded_by())
        if not found:
            raise _missing_enrollment_error(student_id, course_id)
        course = found[0]
        if not course["student_exists"]:
            raise StudentNotFound(student_id)
        dropped = course["dropped"] > 0
    else:
        course = _lock_course(course_id, student_id)
        dropped = bool(_UNENROLL.execute(params))
    if dropped:
        if waitlists.has_waitlist(course):
            waitlists.fill_free_seats(course_id, course["capacity"], "seat-freed")
        return
    if waitlists.has_waitlist(course) and waitlists.leave(student_id, course_id):
        return
    raise NotEnrolled(student_id, course_id)


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
