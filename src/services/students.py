"""Operations on students."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, bindparam, delete, select, union
from sqlalchemy.exc import IntegrityError

from src.exceptions import EmailTaken, StudentBusy, StudentNotFound
from src.extensions import db
from src.models import Student, StudentCourse, WaitlistEntry
from src.models.student import email_key
from src.services import (
    STUDENT_COLUMNS,
    Precondition,
    ResourceList,
    events,
    execute,
    waitlists,
)
from src.services.enrollments import lock_courses


def get_student(student_id: int, *, lock: bool = False) -> Student:
    """Return the student with ``student_id`` or raise :class:`StudentNotFound`.

    With ``lock``, its row is locked against other changes (not against enrollments).
    """
    if lock:
        student = db.session.get(
            Student, student_id, with_for_update={"key_share": True}, populate_existing=True
        )
    else:
        student = db.session.get(Student, student_id)
    if student is None:
        raise StudentNotFound(student_id)
    return student


#: All students, or the one with ``?email=`` (any case), in id order.
STUDENTS = ResourceList(
    Student.__table__, "email", columns=STUDENT_COLUMNS, key_column="email_key", key=email_key
)


def _flush_or_email_taken() -> None:
    # The unique indexes on email_key (and lower(email)) are the only constraints a valid
    # student can break, and the guard against two requests racing for one address.
    try:
        db.session.flush()
    except IntegrityError as error:
        raise EmailTaken() from error


def create_student(data: dict[str, Any]) -> Student:
    """Add a student; raise :class:`EmailTaken` if the address is in use in any case."""
    student = Student(**data)
    db.session.add(student)
    _flush_or_email_taken()
    return student


def update_student(
    student_id: int, changes: dict[str, Any], precondition: Precondition | None = None
) -> Student:
    """Apply a partial update to a student, if ``precondition`` accepts it as it is."""
    student = get_student(student_id, lock=precondition is not None)
    if precondition is not None:
        precondition(student)
    for name, value in changes.items():
        setattr(student, name, value)
    _flush_or_email_taken()
    return student


_COURSES_OF_STUDENT = union(
    select(StudentCourse.course_id).where(StudentCourse.student_id == bindparam("student_id")),
    select(WaitlistEntry.course_id).where(WaitlistEntry.student_id == bindparam("student_id")),
)
#: Attempts to lock a student's courses before another transaction adds one.
_LOCK_ATTEMPTS = 10


def _lock_student_and_courses(student_id: int) -> tuple[Student, list[RowMapping]]:
    """Lock the courses the student holds a seat or a place in, then the student.

    Courses first, in id order, as enrolling locks its course before the student's row
    (its foreign-key check): the other order could deadlock. A course the student
    joined between the first read and the student's lock means starting again.
    """
    params = {"student_id": student_id}
    for _ in range(_LOCK_ATTEMPTS):
        seen = set(execute(_COURSES_OF_STUDENT, params).scalars())
        attempt = db.session.begin_nested()
        courses = lock_courses(seen)
        student = db.session.get(Student, student_id, with_for_update=True, populate_existing=True)
        if student is None:
            attempt.rollback()
            raise StudentNotFound(student_id)
        if set(execute(_COURSES_OF_STUDENT, params).scalars()) <= seen:
            return student, courses
        attempt.rollback()
    raise StudentBusy(student_id)


def delete_student(student_id: int, precondition: Precondition | None = None) -> None:
    """Delete a student, if ``precondition`` accepts it as it is. Each enrollment is
    recorded as dropped and each place in line as left (reason ``student-deleted``),
    and the seats they free go to the first in line.
    """
    student, courses = _lock_student_and_courses(student_id)
    if precondition is not None:
        precondition(student)
    events.drop_all_of_student(student_id)
    waitlists.leave_all_of_student(student_id)
    db.session.execute(delete(Student).where(Student.id == student_id))
    for course in courses:
        if waitlists.has_waitlist(course):
            waitlists.fill_free_seats(course["id"], course["capacity"], "seat-freed")
