"""Operations on instructors, and on who teaches which course."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from src.database import Listing, Page, Statement, now, transaction
from src.exceptions import (
    CourseHasPrimaryInstructor,
    CourseNotFound,
    EmailTaken,
    InstructorNotFound,
    NotAssigned,
)
from src.models import Course, CourseInstructor, Instructor
from src.models.student import email_key
from src.services import COURSE_COLUMNS, INSTRUCTOR_COLUMNS, Precondition, course_columns

_instructors = Instructor.__table__
_assignments = CourseInstructor.__table__
_courses = Course.__table__
# Not named for the columns: UPDATE reserves those names for its SET clause.
_instructor_id = bindparam("instructor")
_course_id = bindparam("course")

_LIST = Listing(
    select(*_instructors.c).order_by(_instructors.c.id),
    select(func.count()).select_from(_instructors),
    INSTRUCTOR_COLUMNS,
)


def list_instructors(limit: int, offset: int) -> Page:
    """A page of the instructors, in id order."""
    return _LIST.page({}, limit, offset)  # type: ignore[return-value]


_INSTRUCTOR = Statement(select(_instructors).where(_instructors.c.id == _instructor_id))


def get_instructor(instructor_id: int) -> dict[str, Any]:
    """The instructor with ``instructor_id``; :class:`InstructorNotFound` if none."""
    instructor = _INSTRUCTOR.first({"instructor": instructor_id})
    if instructor is None:
        raise InstructorNotFound(instructor_id)
    return instructor


_FIELDS = ("first_name", "last_name", "email")
_CREATE = Statement(
    insert(_instructors)
    .values(
        {name: bindparam(name) for name in (*_FIELDS, "email_key")}
        | {"created_at": now(), "updated_at": now()}
    )
    .returning(*_instructors.c)
)


def create_instructor(data: Mapping[str, Any]) -> dict[str, Any]:
    """Add an instructor; :class:`EmailTaken` if another instructor has the address in
    any case."""
    try:
        with transaction():
            return _CREATE.first({**data, "email_key": email_key(data["email"])})  # type: ignore[return-value]
    except IntegrityError as error:
        raise EmailTaken("instructor") from error


_LOCK = Statement(
    select(_instructors).where(_instructors.c.id == _instructor_id).with_for_update(key_share=True)
)
_UPDATE = Statement(
    update(_instructors)
    .where(_instructors.c.id == _instructor_id)
    .values({name: bindparam(name) for name in (*_FIELDS, "email_key")} | {"updated_at": now()})
    .returning(*_instructors.c)
)


def update_instructor(
    instructor_id: int, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> dict[str, Any]:
    """Apply a partial update to an instructor, if ``precondition`` accepts it as it is."""
    try:
        with transaction():
            instructor = _LOCK.first({"instructor": instructor_id})
            if instructor is None:
                raise InstructorNotFound(instructor_id)
            if precondition is not None:
                precondition(instructor)
            changed = {k: v for k, v in changes.items() if instructor[k] != v}
            if not changed:
                return instructor
            values = {name: changed.get(name, instructor[name]) for name in _FIELDS}
            values["email_key"] = email_key(values["email"])
            return _UPDATE.first(values | {"instructor": instructor_id})  # type: ignore[return-value]
    except IntegrityError as error:
        raise EmailTaken("instructor") from error


_DELETE = Statement(
    delete(_instructors).where(_instructors.c.id == _instructor_id).returning(_instructors.c.id)
)


def delete_instructor(instructor_id: int, precondition: Precondition | None = None) -> None:
    """Delete an instructor, if ``precondition`` accepts it as it is; the database
    deletes their assignments and their keys with them (ON DELETE CASCADE)."""
    with transaction():
        if precondition is not None:
            instructor = _LOCK.first({"instructor": instructor_id})
            if instructor is None:
                raise InstructorNotFound(instructor_id)
            precondition(instructor)
        if _DELETE.first({"instructor": instructor_id}) is None:
            raise InstructorNotFound(instructor_id)


# -- Assignments ------------------------------------------------------------------------

_pair = (_assignments.c.course_id == _course_id, _assignments.c.instructor_id == _instructor_id)
_BOTH_EXIST = Statement(
    select(
        exists().where(_courses.c.id == _course_id).label("course"),
        exists().where(_instructors.c.id == _instructor_id).label("instructor"),
        select(_assignments.c.role).where(*_pair).scalar_subquery().label("role"),
    )
)
_ASSIGN = Statement(
    insert(_assignments).values(
        course_id=_course_id,
        instructor_id=_instructor_id,
        role=bindparam("role"),
        assigned_at=now(),
    )
)
_CHANGE_ROLE = Statement(update(_assignments).where(*_pair).values(role=bindparam("role")))


def assign(course_id: int, instructor_id: int, role: str) -> tuple[dict[str, Any], bool]:
    """Assign the instructor to the course as ``role`` (``primary``, ``secondary``), or
    change the role they have; return the assignment as :func:`course_instructors`
    lists it, and whether it is new. :class:`CourseHasPrimaryInstructor` when the
    course has another primary instructor (the partial unique index is the guard)."""
    params = {"course": course_id, "instructor": instructor_id, "role": role}
    try:
        with transaction():
            found = _BOTH_EXIST.first(params)
            assert found is not None  # noqa: S101 - a SELECT without FROM has one row
            if not found["course"]:
                raise CourseNotFound(course_id)
            if not found["instructor"]:
                raise InstructorNotFound(instructor_id)
            created = found["role"] is None
            if created:
                _ASSIGN.run(params)
            elif found["role"] != role:
                _CHANGE_ROLE.run(params)
            return _ASSIGNMENT.first(params), created  # type: ignore[return-value]
    except IntegrityError as error:
        # The course (or the instructor) was deleted meanwhile, or another primary won.
        unique = getattr(error.orig, "pgcode", None) == "23505" or "UNIQUE" in str(error.orig)
        if unique:
            raise CourseHasPrimaryInstructor(course_id) from error
        raise CourseNotFound(course_id) from error


_UNASSIGN = Statement(delete(_assignments).where(*_pair))


def unassign(course_id: int, instructor_id: int) -> None:
    """Take the instructor off the course; :class:`NotAssigned` if they were not on it."""
    if _UNASSIGN.run({"course": course_id, "instructor": instructor_id}):
        return
    found = _BOTH_EXIST.first({"course": course_id, "instructor": instructor_id})
    if not found["course"]:  # type: ignore[index]
        raise CourseNotFound(course_id)
    if not found["instructor"]:  # type: ignore[index]
        raise InstructorNotFound(instructor_id)
    raise NotAssigned(course_id, instructor_id)


_assigned = select(*_instructors.c, _assignments.c.role).join_from(
    _assignments, _instructors, _assignments.c.instructor_id == _instructors.c.id
)
_ASSIGNMENT = Statement(_assigned.where(*_pair))
_COURSE_INSTRUCTORS = Listing(
    _assigned.where(_assignments.c.course_id == _course_id).order_by(
        _assignments.c.role, _instructors.c.id
    ),
    select(
        select(func.count()).where(_assignments.c.course_id == _course_id).scalar_subquery()
    ).where(_courses.c.id == _course_id),
    (*INSTRUCTOR_COLUMNS, "role"),
    order=("role", "id"),
)


def course_instructors(course_id: int, limit: int, offset: int) -> Page:
    """A page of the course's instructors with their ``role``, the primary first;
    :class:`CourseNotFound` if there is no such course."""
    page = _COURSE_INSTRUCTORS.page({"course": course_id}, limit, offset)
    if page is None:
        raise CourseNotFound(course_id)
    return page


def _instructor_courses(in_term: bool) -> Listing:
    where = [_assignments.c.instructor_id == _instructor_id]
    if in_term:
        where.append(_courses.c.term_id == bindparam("term_id"))
    taught = _assignments.join(_courses, _assignments.c.course_id == _courses.c.id)
    return Listing(
        select(*course_columns(), _assignments.c.role.label("role"))
        .select_from(taught)
        .where(*where)
        .order_by(_courses.c.id),
        select(select(func.count()).select_from(taught).where(*where).scalar_subquery()).where(
            _instructors.c.id == _instructor_id
        ),
        COURSE_COLUMNS,
    )


_INSTRUCTOR_COURSES = {in_term: _instructor_courses(in_term) for in_term in (False, True)}


def instructor_courses(
    instructor_id: int, limit: int, offset: int, term_id: int | None = None
) -> Page:
    """A page of the courses the instructor teaches (in the term ``term_id`` when
    given), in id order; :class:`InstructorNotFound` if there is no such instructor."""
    params = {"instructor": instructor_id, "term_id": term_id}
    page = _INSTRUCTOR_COURSES[term_id is not None].page(params, limit, offset)
    if page is None:
        raise InstructorNotFound(instructor_id)
    return page
