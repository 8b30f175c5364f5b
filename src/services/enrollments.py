"""Enrolling students in courses, and the capacity rule.

Concurrency: every change that depends on how many students a course has (enrolling,
lowering its capacity) first locks the course's row, so such changes on one course
happen one after another, and counts the enrollments in a later statement, which sees
every enrollment committed before the lock was granted. The primary key of
``student_courses`` remains the last guard against a duplicate enrollment.
"""

from __future__ import annotations

from sqlalchemy import Select, case, delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

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


def _student_exists(student_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Student.id == student_id))))


def _course_exists(course_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Course.id == course_id))))


def _missing_enrollment_error(student_id: int, course_id: int) -> DomainError:
    """The 404 that fits when an enrollment is not there: the student, the course, or it."""
    if not _student_exists(student_id):
        return StudentNotFound(student_id)
    if not _course_exists(course_id):
        return CourseNotFound(course_id)
    return NotEnrolled(student_id, course_id)


def _count_for(owner: type[Student] | type[Course], owner_id: int) -> int:
    """Count the enrollments of a student or course; raise its 404 if it does not exist.

    One statement answers both questions, so a list costs two: this and the page.
    """
    column = StudentCourse.student_id if owner is Student else StudentCourse.course_id
    count = select(func.count()).where(column == owner_id).scalar_subquery()
    total = db.session.scalar(select(count).where(owner.id == owner_id))
    if total is None:
        raise StudentNotFound(owner_id) if owner is Student else CourseNotFound(owner_id)
    return total


def count_student_enrollments(student_id: int) -> int:
    """How many courses the student is enrolled in; :class:`StudentNotFound` if none such."""
    return _count_for(Student, student_id)


def count_course_enrollments(course_id: int) -> int:
    """How many students the course has; :class:`CourseNotFound` if none such."""
    return _count_for(Course, course_id)


def student_enrollments_query(student_id: int) -> Select[tuple[StudentCourse]]:
    """A student's enrollments with their courses, oldest first, then by course id."""
    return (
        select(StudentCourse)
        .options(joinedload(StudentCourse.course, innerjoin=True))
        .where(StudentCourse.student_id == student_id)
        .order_by(StudentCourse.enrolled_at, StudentCourse.course_id)
    )


def course_roster_query(course_id: int) -> Select[tuple[StudentCourse]]:
    """A course's enrollments with their students, oldest first, then by student id."""
    return (
        select(StudentCourse)
        .options(joinedload(StudentCourse.student, innerjoin=True))
        .where(StudentCourse.course_id == course_id)
        .order_by(StudentCourse.enrolled_at, StudentCourse.student_id)
    )


def get_enrollment(student_id: int, course_id: int) -> StudentCourse:
    """The enrollment of the student in the course, with its course loaded.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound` or :class:`NotEnrolled`.
    """
    enrollment = _find_enrollment(student_id, course_id)
    if enrollment is None:
        raise _missing_enrollment_error(student_id, course_id)
    return enrollment


def _find_enrollment(student_id: int, course_id: int) -> StudentCourse | None:
    """The enrollment with its course loaded (one statement), or ``None``."""
    return db.session.scalar(
        student_enrollments_query(student_id).where(StudentCourse.course_id == course_id)
    )


def _lock_course(course_id: int, student_id: int) -> Course:
    """Lock the course's row and check that both the course and the student exist.

    ``FOR NO KEY UPDATE`` excludes other enrollments into (and capacity changes of)
    this course, but not the foreign-key checks of enrollments into other courses.
    """
    row = db.session.execute(
        select(Course, exists().where(Student.id == student_id))
        .where(Course.id == course_id)
        .with_for_update(of=Course, key_share=True)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        if not _student_exists(student_id):
            raise StudentNotFound(student_id)
        raise CourseNotFound(course_id)
    course, student_exists = row
    if not student_exists:
        raise StudentNotFound(student_id)
    return course


def enroll(
    student_id: int, course_id: int, *, idempotent: bool = False
) -> tuple[StudentCourse, bool]:
    """Enroll a student in a course; return the enrollment and whether it is new.

    Raises :class:`StudentNotFound`, :class:`CourseNotFound`, :class:`CourseFull`, and
    :class:`AlreadyEnrolled` unless ``idempotent``, in which case an existing
    enrollment is returned as it is.
    """
    course = _lock_course(course_id, student_id)
    enrolled, existing_at = db.session.execute(
        select(
            func.count(),
            func.max(case((StudentCourse.student_id == student_id, StudentCourse.enrolled_at))),
        ).where(StudentCourse.course_id == course_id)
    ).one()
    if existing_at is not None:
        if not idempotent:
            raise AlreadyEnrolled(student_id, course_id)
        return get_enrollment(student_id, course_id), False
    if course.capacity is not None and enrolled >= course.capacity:
        raise CourseFull(course_id, course.capacity)

    enrollment = StudentCourse(student_id=student_id, course_id=course_id)
    enrollment.course = course
    db.session.add(enrollment)
    try:
        db.session.flush()
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
    return enrollment, True


def unenroll(student_id: int, course_id: int) -> None:
    """Remove a student from a course; the 404s as in :func:`get_enrollment`."""
    removed = db.session.execute(
        delete(StudentCourse)
        .where(StudentCourse.student_id == student_id, StudentCourse.course_id == course_id)
        .returning(StudentCourse.course_id)
    ).first()
    if removed is None:
        raise _missing_enrollment_error(student_id, course_id)


def check_new_capacity(course_id: int, capacity: int | None) -> None:
    """Refuse a capacity below the course's current enrollment (``None`` is no limit).

    The caller must hold the course's row lock, so no enrollment slips in between
    this count and the update.
    """
    if capacity is None:
        return
    enrolled = db.session.scalar(select(func.count()).where(StudentCourse.course_id == course_id))
    if enrolled is not None and enrolled > capacity:
        raise CapacityBelowEnrollment(capacity, enrolled)
