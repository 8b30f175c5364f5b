"""Operations on students."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from src.exceptions import EmailTaken, StudentNotFound
from src.extensions import db
from src.models import Student
from src.services import ResourceList, events, execute


def get_student(student_id: int) -> Student:
    """Return the student with ``student_id`` or raise :class:`StudentNotFound`."""
    student = db.session.get(Student, student_id)
    if student is None:
        raise StudentNotFound(student_id)
    return student


#: All students, or the one with ``?email=`` (any case), in id order.
STUDENTS = ResourceList(Student.__table__, "email")


def _flush_or_email_taken() -> None:
    # The unique index on lower(email) is the only constraint a valid student can break,
    # and it is the guard against two requests racing for the same address.
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


def update_student(student_id: int, changes: dict[str, Any]) -> Student:
    """Apply a partial update to a student."""
    student = get_student(student_id)
    for name, value in changes.items():
        setattr(student, name, value)
    _flush_or_email_taken()
    return student


_LOCK_STUDENT = select(Student.id).where(Student.id == bindparam("student_id")).with_for_update()


def delete_student(student_id: int) -> None:
    """Delete a student; the database cascades to its enrollments, each of which is
    recorded as dropped (reason ``student-deleted``).

    The student's row is locked first: an enrollment racing the delete either
    committed before (and is recorded) or fails its foreign-key check after.
    """
    if execute(_LOCK_STUDENT, {"student_id": student_id}).first() is None:
        raise StudentNotFound(student_id)
    events.drop_all_of_student(student_id)
    db.session.execute(delete(Student).where(Student.id == student_id))
