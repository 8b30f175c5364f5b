"""Enrolling students in courses, and the capacity rule.

Concurrency: every change that depends on how many students a course has (enrolling,
lowering its capacity) first locks the course's row, so such changes on one course
happen one after another, and counts the enrollments in a later statement, which sees
every enrollment committed before the lock was granted. The primary key of
``student_courses`` remains the last guard against a duplicate enrollment.

An enrollment is shown as a row of the resource on its other side (the course's
columns for a student's courses, the student's for a roster) plus ``enrolled_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from src.database import Listing, Page, Statement, now, transaction
from src.exceptions import (
    AlreadyEnrolled,
    AlreadyWaitlisted,
    CapacityBelowEnrollment,
    CourseFull,
    CourseNotFound,
    DomainError,
    NotEnrolled,
    RegistrationRefused,
    RuleFailure,
    StudentNotFound,
    WaitlistFull,
    WithdrawDeadlinePassed,
)
from src.models import Course, Hold, Student, StudentCourse, Term, WaitlistEntry, Withdrawal
from src.models.base import UTCDateTime
from src.services import (
    COURSE_COLUMNS,
    STUDENT_COLUMNS,
    course_columns,
    events,
    rules,
    terms,
    waitlists,
)

_students = Student.__table__
_courses = Course.__table__
_terms = Term.__table__
_enrollments = StudentCourse.__table__
_entries = WaitlistEntry.__table__
_student_id = bindparam("student_id")
_course_id = bindparam("course_id")
_pair = (_enrollments.c.student_id == _student_id, _enrollments.c.course_id == _course_id)


def _counted(owner: Any, column: Any, owner_id: Any) -> Any:
    # No row when the owner does not exist, else its number of rows in ``column``'s
    # table: one statement answers the 404 check and the list's total.
    count = select(func.count()).where(column == owner_id).scalar_subquery()
    return select(count).where(owner.c.id == owner_id)


# -- Reading ------------------------------------------------------------------------

_course = course_columns()
_enrolled_courses = (
    select(*_course, _enrollments.c.enrolled_at, literal("enrolled").label("status"))
    .join_from(_enrollments, _courses, _enrollments.c.course_id == _courses.c.id)
    .where(_enrollments.c.student_id == _student_id)
)
_waiting_courses = (
    select(
        *_course,
        literal("waitlisted").label("status"),
        waitlists.position_of(_entries).label("waitlist_position"),
        _entries.c.waitlisted_at,
        _entries.c.id.label("entry_id"),
    )
    .join_from(_entries, _courses, _entries.c.course_id == _courses.c.id)
    .where(_entries.c.student_id == _student_id)
)
_withdrawals = Withdrawal.__table__
_withdrawn_courses = (
    select(
        *_course,
        _withdrawals.c.enrolled_at,
        literal("withdrawn").label("status"),
        _withdrawals.c.withdrawn_at,
        _withdrawals.c.id.label("withdrawal_id"),
    )
    .join_from(_withdrawals, _courses, _withdrawals.c.course_id == _courses.c.id)
    .where(_withdrawals.c.student_id == _student_id)
)
# Typed nulls: a union's rows take their types from its first select, and PostgreSQL
# types two untyped nulls in one column as text before it meets the third select's.
_no_time = cast(null(), UTCDateTime())
_no_place = cast(null(), Integer())
_in_term = _courses.c.term_id == bindparam("term_id")


def _student_total(rows: Any, course_id: Any, in_term: bool) -> Any:
    # No row when the student does not exist, else their number of ``rows`` (in the
    # term): one statement answers the 404 check and the list's total.
    count = select(func.count()).where(rows.c.student_id == _student_id)
    if in_term:
        count = count.join_from(rows, _courses, course_id == _courses.c.id).where(_in_term)
    return select(count.scalar_subquery()).where(_students.c.id == _student_id)


def _student_courses_listings(in_term: bool) -> dict[str, Listing]:
    """For each ``?status=``: a student's courses (in the term ``term_id``, with
    ``in_term``), oldest first, and their total."""
    where = [_in_term] if in_term else []
    enrolled = _enrolled_courses.where(*where)
    waiting = _waiting_courses.where(*where)
    withdrawn = _withdrawn_courses.where(*where)
    # Enrolled courses first, oldest first; then the courses waited for, in joining
    # order; then those withdrawn from, oldest withdrawal first.
    every = union_all(
        enrolled.with_only_columns(
            *_course,
            _enrollments.c.enrolled_at,
            literal("enrolled").label("status"),
            _no_place.label("waitlist_position"),
            _no_time.label("waitlisted_at"),
            _no_time.label("withdrawn_at"),
            literal(0).label("part"),
            _enrollments.c.enrolled_at.label("since"),
        ),
        waiting.with_only_columns(
            *_course,
            _no_time.label("enrolled_at"),
            literal("waitlisted").label("status"),
            waitlists.position_of(_entries).label("waitlist_position"),
            _entries.c.waitlisted_at,
            _no_time.label("withdrawn_at"),
            literal(1).label("part"),
            _entries.c.waitlisted_at.label("since"),
        ),
        withdrawn.with_only_columns(
            *_course,
            _withdrawals.c.enrolled_at,
            literal("withdrawn").label("status"),
            _no_place.label("waitlist_position"),
            _no_time.label("waitlisted_at"),
            _withdrawals.c.withdrawn_at,
            literal(2).label("part"),
            _withdrawals.c.withdrawn_at.label("since"),
        ),
    ).subquery("courses_of_student")
    enrolled_total = _student_total(_enrollments, _enrollments.c.course_id, in_term)
    waiting_total = _student_total(_entries, _entries.c.course_id, in_term)
    withdrawn_total = _student_total(_withdrawals, _withdrawals.c.course_id, in_term)
    return {
        "enrolled": Listing(
            enrolled.order_by(_enrollments.c.enrolled_at, _enrollments.c.course_id),
            enrolled_total,
            (*COURSE_COLUMNS, "enrolled_at"),
            order=("enrolled_at", "id"),
        ),
        "waitlisted": Listing(
            waiting.order_by(_entries.c.id),
            waiting_total,
            (*COURSE_COLUMNS, "status", "waitlist_position", "waitlisted_at", "entry_id"),
            order=("entry_id",),
        ),
        "withdrawn": Listing(
            withdrawn.order_by(_withdrawals.c.withdrawn_at, _withdrawals.c.id),
            withdrawn_total,
            (*COURSE_COLUMNS, "enrolled_at", "status", "withdrawn_at", "withdrawal_id"),
            order=("withdrawn_at", "withdrawal_id"),
        ),
        "all": Listing(
            select(*every.c).order_by(every.c.part, every.c.since, every.c.id),
            select(
                enrolled_total.scalar_subquery()
                + waiting_total.scalar_subquery()
                + withdrawn_total.scalar_subquery()
            ),
            (
                *COURSE_COLUMNS,
                "enrolled_at",
                "status",
                "waitlist_position",
                "waitlisted_at",
                "withdrawn_at",
                "part",
                "since",
            ),
            order=("part", "since", "id"),
        ),
    }


#: The listings of a student's courses, in every term (``False``) or in one (``True``).
_STUDENT_COURSES = {in_term: _student_courses_listings(in_term) for in_term in (False, True)}


def student_courses(
    student_id: int, status: str, limit: int, offset: int, term_id: int | None = None
) -> Page:
    """A page of the student's courses (in the term ``term_id`` when given) with
    ``status``: ``enrolled`` (with ``enrolled_at``, oldest first), ``waitlisted`` (with
    their place, in joining order), ``withdrawn`` (with ``enrolled_at`` and
    ``withdrawn_at``, oldest withdrawal first) or ``all`` (in that order);
    :class:`StudentNotFound` if there is no such student."""
    params = {"student_id": student_id, "term_id": term_id}
    listing = _STUDENT_COURSES[term_id is not None][status]
    page = listing.page(params, limit, offset)
    if page is None:
        raise StudentNotFound(student_id)
    return page


_SCHEDULE = Statement(
    _enrolled_courses.where(_in_term).order_by(_enrollments.c.enrolled_at, _enrollments.c.course_id)
)


def schedule(student_id: int, term_id: int | None = None) -> dict[str, Any]:
    """A student's schedule for a term (the default term when ``term_id`` is ``None``):
    ``{"term", "courses"}``, the courses they are enrolled in there, oldest enrollment
    first, each with its meetings. :class:`StudentNotFound`, :class:`TermNotFound`."""
    term = terms.default_term() if term_id is None else terms.get_term(term_id)
    if not _STUDENT_EXISTS.scalar({"student_id": student_id}):
        raise StudentNotFound(student_id)
    courses = _SCHEDULE.mappings({"student_id": student_id, "term_id": term["id"]})
    return {"term": term, "courses": courses}


_ROSTER = Listing(
    select(*_students.c, _enrollments.c.enrolled_at)
    .join_from(_enrollments, _students, _enrollments.c.student_id == _students.c.id)
    .where(_enrollments.c.course_id == _course_id)
    .order_by(_enrollments.c.enrolled_at, _enrollments.c.student_id),
    _counted(_courses, _enrollments.c.course_id, _course_id),
    (*STUDENT_COLUMNS, "enrolled_at"),
    order=("enrolled_at", "id"),
)


def roster(course_id: int, limit: int, offset: int) -> Page:
    """A page of the course's students with ``enrolled_at``, oldest enrollment first;
    :class:`CourseNotFound` if there is no such course."""
    page = _ROSTER.page({"course_id": course_id}, limit, offset)
    if page is None:
        raise CourseNotFound(course_id)
    return page


_ENROLLMENT = Statement(_enrolled_courses.where(_enrollments.c.course_id == _course_id))
_PLACE = Statement(_waiting_courses.where(_courses.c.id == _course_id))
_LAST_WITHDRAWAL = Statement(
    _withdrawn_courses.where(_courses.c.id == _course_id)
    .order_by(_withdrawals.c.id.desc())
    .limit(1)
)


def get_enrollment(student_id: int, course_id: int) -> dict[str, Any]:
    """The course the student is enrolled in (with ``enrolled_at``), waits for (with
    ``waitlist_position`` and ``waitlisted_at``) or, neither, last withdrew from (with
    ``enrolled_at`` and ``withdrawn_at``), and its ``status``.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound` or :class:`NotEnrolled`.
    """
    params = {"student_id": student_id, "course_id": course_id}
    found = _ENROLLMENT.first(params) or _PLACE.first(params) or _LAST_WITHDRAWAL.first(params)
    if found is None:
        raise _missing_enrollment(student_id, course_id)
    return found


_STUDENT_EXISTS = Statement(select(exists().where(_students.c.id == _student_id)))
_COURSE_EXISTS = Statement(select(exists().where(_courses.c.id == _course_id)))


def _missing_enrollment(student_id: int, course_id: int) -> DomainError:
    """The 404 that fits when an enrollment is not there: the student, the course, or it."""
    if not _STUDENT_EXISTS.scalar({"student_id": student_id}):
        return StudentNotFound(student_id)
    if not _COURSE_EXISTS.scalar({"course_id": course_id}):
        return CourseNotFound(course_id)
    return NotEnrolled(student_id, course_id)


# -- Locking --------------------------------------------------------------------------

# Several courses, locked as enrolling locks one, in id order: two transactions that
# lock overlapping sets always wait for each other in the same order, never in a circle.
_LOCK_COURSES = Statement(
    select(_courses.c.id, _courses.c.capacity, _courses.c.waitlist_capacity)
    .where(_courses.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_courses.c.id)
    .with_for_update(key_share=True)
)


def lock_courses(course_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Lock these courses in id order (in the caller's transaction); return ``id``,
    ``capacity`` and ``waitlist_capacity`` of each that exists."""
    ids = sorted(set(course_ids))
    if not ids:
        return []
    return _LOCK_COURSES.mappings({"ids": ids})


# -- Enrolling --------------------------------------------------------------------------

# FOR NO KEY UPDATE excludes other enrollments into (and capacity changes of) this
# course, but not the foreign-key checks of enrollments into other courses. Enrolling
# locks the student's row too, after the course's (the order of ``of``, as deleting a
# student locks its courses before it): the student's other enrollments, holds and
# credit limits, which the rules read, stay as they are until this commits.
_course_in_term = (
    select(
        *_courses.c,
        _terms.c.code.label("term_code"),
        _terms.c.registration_opens_at,
        _terms.c.add_deadline,
    )
    .join_from(_courses, _terms, _terms.c.id == _courses.c.term_id)
    .join(_students, _students.c.id == _student_id)
    .where(_courses.c.id == _course_id)
)
_LOCK_FOR_ENROLLING = Statement(
    _course_in_term.with_for_update(of=[_courses, _students], key_share=True)
)
_COURSE_IN_TERM = Statement(_course_in_term)


def _course_for_enrolling(course_id: int, student_id: int, *, lock: bool = True) -> dict[str, Any]:
    """Lock the course's row, then the student's (unless not ``lock``: a dry run);
    return the course with its term's code and registration window. The 404s when
    either is missing."""
    statement = _LOCK_FOR_ENROLLING if lock else _COURSE_IN_TERM
    course = statement.first({"student_id": student_id, "course_id": course_id})
    if course is None:
        if not _STUDENT_EXISTS.scalar({"student_id": student_id}):
            raise StudentNotFound(student_id)
        raise CourseNotFound(course_id)
    return course


def _insert_if_admitted(checked: Any) -> Any:
    """Insert the enrollment when the rules' findings ``checked`` admit it."""
    return (
        insert(_enrollments)
        .from_select(
            ["student_id", "course_id", "enrolled_at"],
            select(_student_id, _course_id, now()).select_from(checked).where(checked.c.admit),
        )
        .returning(_enrollments.c.student_id, _enrollments.c.course_id, _enrollments.c.enrolled_at)
    )


_INSERT_IF_ADMITTED = events.Recorded(
    _insert_if_admitted(rules.findings("sqlite").subquery("checked")), "enrolled"
)


def _check_and_insert_in_steps(params: dict[str, Any]) -> list[dict[str, Any]]:
    # SQLite has no data-modifying WITH: the insert (and its event) when the findings
    # admit it; else the findings, to say why not.
    inserted = _INSERT_IF_ADMITTED.statement.mappings(params)
    if inserted:
        return [{"enrolled_at": None, "inserted_at": inserted[0]["enrolled_at"]}]
    return [{**rules.FINDINGS.first(params), "inserted_at": None}]  # type: ignore[dict-item]


def _check_and_insert_postgresql() -> Any:
    # The findings and, when they admit it, the enrollment and its event, in one
    # statement: the rules take no round trip of their own.
    checked = rules.findings("postgresql").cte("checked")
    inserted = _insert_if_admitted(checked).cte("changed")
    return select(
        checked, select(inserted.c.enrolled_at).scalar_subquery().label("inserted_at")
    ).add_cte(events.record_from(inserted, "enrolled"))


#: What the rules find for the student in the course, and the enrollment when they
#: admit it: ``inserted_at`` (null when refused, or already enrolled: ``enrolled_at``).
_CHECK_AND_INSERT = Statement(_check_and_insert_in_steps, postgresql=_check_and_insert_postgresql())
_in_line = (_entries.c.student_id == _student_id, _entries.c.course_id == _course_id)
_JOIN_LINE = events.Recorded(
    insert(_entries)
    .values(student_id=_student_id, course_id=_course_id, waitlisted_at=now())
    .returning(_entries.c.student_id, _entries.c.course_id, _entries.c.waitlisted_at),
    "waitlisted",
)


def _join_line(
    student_id: int, course: dict[str, Any], waiting: int, recorded: dict[str, Any]
) -> dict[str, Any]:
    """Put the student at the end of the full course's line, behind the ``waiting``;
    return the course with ``status``, ``waitlist_position`` and ``waitlisted_at``."""
    joined = _JOIN_LINE.statement.mappings(
        {"student_id": student_id, "course_id": course["id"]} | recorded
    )
    return {
        **course,
        **_counts(course, course["enrolled_count"]),
        "status": "waitlisted",
        "waitlist_position": waiting + 1,
        "waitlisted_at": joined[0]["waitlisted_at"],
    }


def _line_has_room(course: dict[str, Any], waiting: int) -> bool:
    limit = course["waitlist_capacity"]
    return limit is None or waiting < limit


def _counts(course: dict[str, Any], enrolled_count: int) -> dict[str, Any]:
    """The course's ``enrolled_count`` and ``seats_available``, as a course read shows them."""
    capacity = course["capacity"]
    seats = None if capacity is None else capacity - enrolled_count
    return {"enrolled_count": enrolled_count, "seats_available": seats}


def _full(course: dict[str, Any]) -> bool:
    # The count under the course's lock is final (the triggers keep it in the same
    # transactions as the enrollments).
    return course["capacity"] is not None and course["enrolled_count"] >= course["capacity"]


def _capacity_failure(course: dict[str, Any], line_full: bool) -> RuleFailure:
    if line_full:
        detail = WaitlistFull(course["id"], course["waitlist_capacity"]).detail
        return RuleFailure("waitlist-full", detail)
    return RuleFailure("course-full", CourseFull(course["id"], course["capacity"]).detail)


#: What :func:`enroll` did.
CREATED, EXISTING, WAITLISTED = "created", "existing", "waitlisted"


@dataclass(frozen=True)
class Request:
    """How an enrollment is asked for: ``waitlist`` (join the line of a full course),
    ``idempotent`` (an existing enrollment is an answer, not an error), ``window``
    (the registration window applies: the student's own key), and the rules an admin
    ``overrides``, with their ``reason``."""

    waitlist: bool = False
    idempotent: bool = False
    window: bool = False
    overrides: tuple[str, ...] = ()
    reason: str | None = None


def enroll(
    student_id: int, course_id: int, request: Request = Request()
) -> tuple[dict[str, Any], str]:
    """Enroll a student in a course, or with ``request.waitlist`` put them in its line
    when it is full, if the registration rules (``src.services.rules``) allow; return
    the course as :func:`get_enrollment` shows it, and :data:`CREATED`,
    :data:`WAITLISTED` or (``idempotent`` only) :data:`EXISTING`.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound`, :class:`AlreadyWaitlisted`,
    :class:`RegistrationRefused` with every rule broken (a full course, or line,
    among them), and :class:`AlreadyEnrolled` unless ``idempotent``, in which case an
    existing enrollment is returned as it is.
    """
    recorded = events.recorded_by(overrides=request.overrides, override_reason=request.reason)
    with transaction():
        course = _course_for_enrolling(course_id, student_id)
        closed = rules.window_closed(course) if request.window else None
        full = _full(course)
        params = rules.parameters(
            student_id, course, closed=closed is not None, full=full, overrides=request.overrides
        )
        try:
            found = _CHECK_AND_INSERT.first(params | recorded)
        except IntegrityError as error:
            raise _integrity_error(error, student_id, course_id) from error
        if found["enrolled_at"] is not None:
            if not request.idempotent:
                raise AlreadyEnrolled(student_id, course_id)
            enrollment = {
                **course,
                **_counts(course, course["enrolled_count"]),
                "enrolled_at": found["enrolled_at"],
                "status": "enrolled",
            }
            return enrollment, EXISTING
        if found["inserted_at"] is not None:
            # The lock read the course's count as it stands: this enrollment comes on top.
            enrollment = {
                **course,
                **_counts(course, course["enrolled_count"] + 1),
                "enrolled_at": found["inserted_at"],
                "status": "enrolled",
            }
            return enrollment, CREATED
        if found["waiting"]:
            raise AlreadyWaitlisted(student_id, course_id)
        broken = ([closed] if closed else []) + rules.failures(found, request.overrides)
        if full and request.waitlist and waitlists.has_waitlist(course):
            waiting = waitlists.line_length(course_id)
            if not _line_has_room(course, waiting):
                broken.append(_capacity_failure(course, line_full=True))
            elif not broken:
                try:
                    return _join_line(student_id, course, waiting, recorded), WAITLISTED
                except IntegrityError as error:
                    raise _integrity_error(error, student_id, course_id) from error
        elif full:
            broken.append(_capacity_failure(course, line_full=False))
        raise RegistrationRefused(broken)


def check(student_id: int, course_id: int, request: Request = Request()) -> dict[str, Any]:
    """What :func:`enroll` would do now for ``request`` (taking a place in line when the
    course is full), written nowhere: ``{"course_id", "eligible", "errors", "waitlist"}``,
    ``errors`` the rules it would break (or the enrollment or place already held), and
    ``waitlist`` whether only a place in line is left. The 404s as :func:`enroll`."""
    course = _course_for_enrolling(course_id, student_id, lock=False)
    closed = rules.window_closed(course) if request.window else None
    full = _full(course)
    params = rules.parameters(
        student_id, course, closed=closed is not None, full=full, overrides=request.overrides
    )
    found = rules.FINDINGS.first(params)
    if found["enrolled_at"] is not None:
        broken = [RuleFailure("already-enrolled", AlreadyEnrolled(student_id, course_id).detail)]
    elif found["waiting"]:
        detail = AlreadyWaitlisted(student_id, course_id).detail
        broken = [RuleFailure("already-waitlisted", detail)]
    else:
        broken = ([closed] if closed else []) + rules.failures(found, request.overrides)
        if full and not waitlists.has_waitlist(course):
            broken.append(_capacity_failure(course, line_full=False))
        elif full and not _line_has_room(course, waitlists.line_length(course_id)):
            broken.append(_capacity_failure(course, line_full=True))
    return {"course_id": course_id, "eligible": not broken, "errors": broken, "waitlist": full}


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


# -- Unenrolling --------------------------------------------------------------------------

_LEAVE_LINE = events.Recorded(
    delete(_entries).where(*_in_line).returning(_entries.c.student_id, _entries.c.course_id),
    "left_waitlist",
)
_leave_course = delete(_enrollments).returning(
    _enrollments.c.student_id, _enrollments.c.course_id, _enrollments.c.enrolled_at
)
_DROP = events.Recorded(_leave_course.where(*_pair), "dropped")
_WITHDRAW = events.Recorded(_leave_course.where(*_pair), "withdrawn")
_RECORD_WITHDRAWAL = Statement(insert(_withdrawals))

# Lock the course as enrolling does (FOR NO KEY UPDATE), with what its term's deadlines
# make of leaving it at ``at``: after the drop deadline it is a withdrawal; after the
# withdraw deadline the student's own key (``by_student``) may not leave at all. A
# missing deadline is no bound.
_at = bindparam("at", type_=UTCDateTime())
_past = {
    name: func.coalesce(_terms.c[name] <= _at, False)
    for name in ("drop_deadline", "withdraw_deadline")
}
_leaving = (
    select(
        _courses.c.id,
        _courses.c.capacity,
        _courses.c.waitlist_capacity,
        _terms.c.withdraw_deadline,
        exists().where(_students.c.id == _student_id).label("student_exists"),
        _past["drop_deadline"].label("withdrawing"),
        ~(bindparam("by_student") & _past["withdraw_deadline"]).label("may_leave"),
    )
    .join_from(_courses, _terms, _terms.c.id == _courses.c.term_id)
    .where(_courses.c.id == _course_id)
    .with_for_update(of=_courses, key_share=True)
)
_LOCK_FOR_LEAVING = Statement(_leaving)


def _lock_and_leave_in_steps(params: dict[str, Any]) -> list[dict[str, Any]]:
    course = _LOCK_FOR_LEAVING.first(params)
    if course is None:
        return []
    left = []
    if course["student_exists"] and course["may_leave"]:
        left = (_WITHDRAW if course["withdrawing"] else _DROP).statement.mappings(params)
        if left and course["withdrawing"]:
            _RECORD_WITHDRAWAL.run(left[0])
    return [{**course, "left": len(left)}]


# On PostgreSQL one statement: lock the course, delete the enrollment (naming the course
# through the locked row, so the delete runs after the lock is granted and only when the
# student may leave), keep a withdrawal, and record the event. The seat is handed on in
# a later statement, under the same lock.
_locked = _leaving.cte("course")
_left = _leave_course.where(
    _enrollments.c.student_id == _student_id,
    _enrollments.c.course_id == select(_locked.c.id).where(_locked.c.may_leave).scalar_subquery(),
).cte("changed")
_withdrawing = select(_locked.c.withdrawing).scalar_subquery()
_LOCK_AND_LEAVE = Statement(
    _lock_and_leave_in_steps,
    postgresql=select(
        *_locked.c,
        select(func.count()).select_from(_left).scalar_subquery().label("left"),
    )
    .add_cte(
        insert(_withdrawals)
        .from_select(
            ["student_id", "course_id", "enrolled_at"],
            select(_left.c.student_id, _left.c.course_id, _left.c.enrolled_at).where(_withdrawing),
        )
        .cte("withdrawn")
    )
    .add_cte(events.record_from(_left, case((_withdrawing, "withdrawn"), else_="dropped"))),
)


_holds = Hold.__table__
_DROP_HOLD = Statement(
    select(
        exists().where(
            _holds.c.student_id == _student_id,
            _holds.c.released_at.is_(None),
            _holds.c.blocks_drop,
        )
    )
)
_ENROLLED = Statement(select(exists().where(*_pair)))


def unenroll(student_id: int, course_id: int, *, by_student: bool = False) -> None:
    """Take a student out of a course, giving the seat to the first in line, or out of
    its line; the 404s as in :func:`get_enrollment`.

    Before the term's drop deadline the enrollment is dropped; after it, withdrawn
    (kept as a withdrawal, event ``withdrawn``). Asked ``by_student`` (their own key),
    leaving a course after the withdraw deadline is refused
    (:class:`WithdrawDeadlinePassed`), and so is any leaving while an active hold
    blocks drops (``hold-active``). Leaving a line is never bound by the deadlines.

    The course is locked first, as by enrolling: the seat is handed on before any
    other enrollment can see it free.
    """
    params = {
        "student_id": student_id,
        "course_id": course_id,
        "by_student": by_student,
        "at": datetime.now(UTC),
    }
    if by_student and _DROP_HOLD.scalar(params):
        detail = "The student has an active hold that blocks dropping courses."
        raise RegistrationRefused([RuleFailure("hold-active", detail)])
    with transaction():
        course = _LOCK_AND_LEAVE.first(params | events.recorded_by())
        if course is None:
            raise _missing_enrollment(student_id, course_id)
        if not course["student_exists"]:
            raise StudentNotFound(student_id)
        if course["left"]:
            if waitlists.has_waitlist(course):
                waitlists.fill_free_seats(course_id, course["capacity"], "seat-freed")
            return
        if waitlists.has_waitlist(course) and _LEAVE_LINE.execute(params):
            return
        if not course["may_leave"] and _ENROLLED.scalar(params):
            raise WithdrawDeadlinePassed(course_id, course["withdraw_deadline"])
        raise NotEnrolled(student_id, course_id)


#: How many students a course has (the course's row lock makes it final).
_SEATS_TAKEN = Statement(select(func.count()).where(_enrollments.c.course_id == _course_id))


def check_new_capacity(course_id: int, capacity: int | None) -> None:
    """Refuse a capacity below the course's current enrollment (``None`` is no limit).

    The caller must hold the course's row lock, so no enrollment slips in between
    this count and the update.
    """
    if capacity is None:
        return
    enrolled = _SEATS_TAKEN.scalar({"course_id": course_id})
    if enrolled > capacity:
        raise CapacityBelowEnrollment(capacity, enrolled)
