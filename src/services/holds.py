"""Holds on students, and students' own credit limits: the records the registration
rules read besides the courses (``src.services.rules``).

Each change here locks the student's row first, as enrolling does: a hold placed
while enrollments race for the student is seen by every enrollment that commits after
it, and a credit limit changed meanwhile by every one after the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, select, update

from src.database import Statement, now, transaction
from src.exceptions import CreditLimitNotFound, HoldNotFound, StudentNotFound, TermNotFound
from src.models import Course, CreditLimit, Hold, Student, StudentCourse, Term, WaitlistEntry
from src.models.hold import HOLD_BLOCKS
from src.services import events, rules, terms, waitlists
from src.services.enrollments import lock_courses

_holds = Hold.__table__
_limits = CreditLimit.__table__
_students = Student.__table__
_terms = Term.__table__
# Not named for the columns: UPDATE reserves those names for its SET clause.
_student_id = bindparam("student")

#: A hold as responses show it.
HOLD_COLUMNS = (
    "id", "kind", "reason", "blocks", "placed_at", "placed_by", "released_at", "released_by",
)  # fmt: skip


def _lock_student(student_id: int) -> None:
    # A change here waits for the student's enrollment in progress, and the next
    # enrollment waits for this change.
    if not rules.lock_student(student_id):
        raise StudentNotFound(student_id)


_entries = WaitlistEntry.__table__
_LINES_OF_STUDENT = Statement(
    select(_entries.c.course_id).where(_entries.c.student_id == _student_id)
)


def _give_seats_the_student_may_now_take(student_id: int) -> None:
    """After a change that may let the student pass rules they broke (a hold released,
    a credit limit raised or removed): the free seats of the courses they wait for go
    to the first in line who pass, as when a seat frees. Its own transaction, after
    the change's: courses are locked before students, as enrolling does."""
    waiting = [row[0] for row in _LINES_OF_STUDENT.rows({"student": student_id})]
    if not waiting:
        return
    with transaction():
        for course in lock_courses(waiting):
            waitlists.fill_free_seats(course["id"], course["capacity"], "rules-changed")


def _shown(hold: Mapping[str, Any]) -> dict[str, Any]:
    """A hold's row as the API shows it: what it blocks as a list."""
    blocks = [name for name in HOLD_BLOCKS if hold[f"blocks_{name}"]]
    return {name: hold[name] for name in HOLD_COLUMNS if name != "blocks"} | {"blocks": blocks}


_PLACE = Statement(
    insert(_holds)
    .values(
        student_id=_student_id,
        kind=bindparam("kind"),
        reason=bindparam("reason"),
        blocks_registration=bindparam("blocks_registration"),
        blocks_drop=bindparam("blocks_drop"),
        placed_at=now(),
        placed_by=bindparam("placed_by", type_=_holds.c.placed_by.type),
    )
    .returning(*_holds.c)
)


def place_hold(student_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
    """Place a hold (``kind``, ``reason``, ``blocks``) on a student, by the caller;
    :class:`StudentNotFound` if there is no such student."""
    with transaction():
        _lock_student(student_id)
        hold = _PLACE.first(
            {
                "student": student_id,
                "kind": data["kind"],
                "reason": data["reason"],
                **{f"blocks_{name}": name in data["blocks"] for name in HOLD_BLOCKS},
                "placed_by": events.current_actor().shown(),
            }
        )
    return _shown(hold)  # type: ignore[arg-type]


_STUDENT_EXISTS = Statement(select(_students.c.id).where(_students.c.id == _student_id))
# Active holds first, newest first; then released ones, most recently released first.
_HOLDS = Statement(
    select(_holds)
    .where(_holds.c.student_id == _student_id)
    .order_by(
        case((_holds.c.released_at.is_(None), 0), else_=1),
        _holds.c.released_at.desc(),
        _holds.c.id.desc(),
    )
)


def list_holds(student_id: int) -> list[dict[str, Any]]:
    """Every hold of the student, active ones first; :class:`StudentNotFound`."""
    if _STUDENT_EXISTS.scalar({"student": student_id}) is None:
        raise StudentNotFound(student_id)
    return [_shown(hold) for hold in _HOLDS.mappings({"student": student_id})]


_HOLD = Statement(
    select(_holds).where(_holds.c.id == bindparam("hold_id"), _holds.c.student_id == _student_id)
)


def get_hold(student_id: int, hold_id: int) -> dict[str, Any]:
    """One of the student's holds, active or released; :class:`HoldNotFound`."""
    hold = _HOLD.first({"student": student_id, "hold_id": hold_id})
    if hold is None:
        if _STUDENT_EXISTS.scalar({"student": student_id}) is None:
            raise StudentNotFound(student_id)
        raise HoldNotFound(student_id, hold_id)
    return _shown(hold)


_ACTIVE = Statement(
    select(_holds)
    .where(_holds.c.student_id == _student_id, _holds.c.released_at.is_(None))
    .order_by(_holds.c.id.desc())
)


def active_holds(student_id: int) -> list[dict[str, Any]]:
    """The student's active holds, newest first (the student must exist)."""
    return [_shown(hold) for hold in _ACTIVE.mappings({"student": student_id})]


_RELEASE = Statement(
    update(_holds)
    .where(
        _holds.c.id == bindparam("hold_id"),
        _holds.c.student_id == _student_id,
        _holds.c.released_at.is_(None),
    )
    .values(
        released_at=now(), released_by=bindparam("released_by", type_=_holds.c.released_by.type)
    )
)


def release_hold(student_id: int, hold_id: int) -> None:
    """Release an active hold, by the caller; the hold is kept, released.
    :class:`StudentNotFound`, or :class:`HoldNotFound` when the student has no such
    active hold (a released one included)."""
    with transaction():
        _lock_student(student_id)
        released = _RELEASE.run(
            {
                "student": student_id,
                "hold_id": hold_id,
                "released_by": events.current_actor().shown(),
            }
        )
        if not released:
            raise HoldNotFound(student_id, hold_id, active=True)
    _give_seats_the_student_may_now_take(student_id)


# -- Credit limits -------------------------------------------------------------------

_term_id = bindparam("term")
_TERM_EXISTS = Statement(select(_terms.c.id).where(_terms.c.id == _term_id))
_LIMIT_PAIR = (_limits.c.student_id == _student_id, _limits.c.term_id == _term_id)
_LIMIT = Statement(select(_limits).where(*_LIMIT_PAIR))
_INSERT_LIMIT = Statement(
    insert(_limits)
    .values(
        student_id=_student_id,
        term_id=_term_id,
        max_credits=bindparam("max_credits"),
        created_at=now(),
        updated_at=now(),
    )
    .returning(*_limits.c)
)
_UPDATE_LIMIT = Statement(
    update(_limits)
    .where(*_LIMIT_PAIR)
    .values(max_credits=bindparam("max_credits"), updated_at=now())
    .returning(*_limits.c)
)


def set_credit_limit(student_id: int, term_id: int, max_credits: int) -> tuple[dict, bool]:
    """Give the student their own credit limit in the term; return it and whether it
    is new. :class:`StudentNotFound`, :class:`TermNotFound`."""
    params = {"student": student_id, "term": term_id, "max_credits": max_credits}
    with transaction():
        _lock_student(student_id)
        if _TERM_EXISTS.scalar(params) is None:
            raise TermNotFound(term_id)
        current = _LIMIT.first(params)
        if current is not None and current["max_credits"] == max_credits:
            return current, False
        if current is None:
            limit, created = _INSERT_LIMIT.first(params), True
        else:
            limit, created = _UPDATE_LIMIT.first(params), False
    _give_seats_the_student_may_now_take(student_id)
    return limit, created  # type: ignore[return-value]


_DELETE_LIMIT = Statement(delete(_limits).where(*_LIMIT_PAIR))


def delete_credit_limit(student_id: int, term_id: int) -> None:
    """Remove the student's own limit in the term (the term's ``max_credits`` applies
    again); :class:`StudentNotFound`, :class:`CreditLimitNotFound`."""
    params = {"student": student_id, "term": term_id}
    with transaction():
        _lock_student(student_id)
        if not _DELETE_LIMIT.run(params):
            raise CreditLimitNotFound(student_id, term_id)
    _give_seats_the_student_may_now_take(student_id)


_LIMITS = Statement(
    select(_limits).where(_limits.c.student_id == _student_id).order_by(_limits.c.term_id)
)


def list_credit_limits(student_id: int) -> list[dict[str, Any]]:
    """The student's own credit limits, by term; :class:`StudentNotFound`."""
    if _STUDENT_EXISTS.scalar({"student": student_id}) is None:
        raise StudentNotFound(student_id)
    return _LIMITS.mappings({"student": student_id})


# -- A student's standing in a term -------------------------------------------------

_courses, _enrollments = Course.__table__, StudentCourse.__table__
_CREDITS = Statement(
    select(
        select(func.coalesce(func.sum(_courses.c.credits), 0))
        .join_from(_enrollments, _courses, _courses.c.id == _enrollments.c.course_id)
        .where(_enrollments.c.student_id == _student_id, _courses.c.term_id == _term_id)
        .scalar_subquery()
        .label("enrolled"),
        select(_limits.c.max_credits).where(*_LIMIT_PAIR).scalar_subquery().label("own"),
    ).where(_students.c.id == _student_id)
)


def registration(student_id: int, term_id: int | None = None) -> dict[str, Any]:
    """What registration looks like for the student in a term (the default term when
    ``term_id`` is ``None``): its window and whether it is open now, the credits they
    take there and their limit, and their active holds. :class:`StudentNotFound`,
    :class:`TermNotFound`."""
    term = terms.default_term() if term_id is None else terms.get_term(term_id)
    taken = _CREDITS.first({"student": student_id, "term": term["id"]})
    if taken is None:
        raise StudentNotFound(student_id)
    closed = rules.window_closed({**term, "term_code": term["code"]})
    own = taken["own"]
    return {
        "term_id": term["id"],
        "window": {
            "opens_at": term["registration_opens_at"],
            "add_deadline": term["add_deadline"],
            "drop_deadline": term["drop_deadline"],
            "withdraw_deadline": term["withdraw_deadline"],
            "open": closed is None,
        },
        "credits": {
            "enrolled": taken["enrolled"],
            "max": own if own is not None else term["max_credits"],
        },
        "holds": active_holds(student_id),
    }
