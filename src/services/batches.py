"""Bulk enrollment: many pairs in one transaction, all or nothing.

Concurrency: a batch locks every course it touches, in ascending id order, then its
students, in id order, before it reads anything (the order every transaction that
locks several courses uses, courses before students as enrolling locks them, so two
batches sharing courses cannot deadlock), then counts seats and inserts under those
locks, as a single enrollment does. The registration rules (``src.services.rules``;
all but the window, which binds only a student's own requests) are checked once the
batch's pairs are inserted, so that a corequisite in the same batch counts and two
courses of the batch can conflict. A batch that fails writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, tuple_

from src.database import Statement, now, transaction
from src.exceptions import BatchRejected, PairError, RuleFailure
from src.models import Course, CreditLimit, Hold, Student, StudentCourse, Term
from src.services import events, rules
from src.services.enrollments import lock_courses

_courses = Course.__table__
_students = Student.__table__
_enrollments = StudentCourse.__table__
_ids = bindparam("ids", expanding=True)

#: Most pairs in one batch (and in one statement).
MAX_PAIRS = 1000

# FOR NO KEY UPDATE, as enrolling locks a student: the student's other enrollments,
# holds and credit limits stay as the rules read them until the batch commits.
_STUDENTS = Statement(
    select(_students.c.id)
    .where(_students.c.id.in_(_ids))
    .order_by(_students.c.id)
    .with_for_update(key_share=True)
)
_SEATS_TAKEN = Statement(
    select(_enrollments.c.course_id, func.count())
    .where(_enrollments.c.course_id.in_(_ids))
    .group_by(_enrollments.c.course_id)
)
_EXISTING = Statement(
    select(_enrollments.c.student_id, _enrollments.c.course_id, _enrollments.c.enrolled_at).where(
        tuple_(_enrollments.c.student_id, _enrollments.c.course_id).in_(
            bindparam("pairs", expanding=True)
        )
    )
)


def existing_pairs(pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Any]:
    """The pairs already enrolled, with when they enrolled."""
    found = {}
    for start in range(0, len(pairs), MAX_PAIRS):
        chunk = list(pairs[start : start + MAX_PAIRS])
        found.update(
            ((student_id, course_id), enrolled_at)
            for student_id, course_id, enrolled_at in _EXISTING.rows({"pairs": chunk})
        )
    return found


@dataclass(frozen=True)
class Shortfall:
    """A course without room for all the new pairs that want a seat in it."""

    course_id: int
    free: int
    capacity: int
    wanted: int


def shortfalls(
    new: Sequence[tuple[int, int]], capacities: dict[int, int | None]
) -> list[Shortfall]:
    """The courses of these new pairs that have fewer free seats than pairs; the caller
    holds the courses' locks (``capacities`` from ``lock_courses``)."""
    wanted = Counter(course_id for _, course_id in new)
    taken = dict(_SEATS_TAKEN.rows({"ids": sorted(wanted)})) if wanted else {}
    found = []
    for course_id, count in sorted(wanted.items()):
        capacity = capacities.get(course_id)
        if capacity is not None and taken.get(course_id, 0) + count > capacity:
            free = max(capacity - taken.get(course_id, 0), 0)
            found.append(Shortfall(course_id, free, capacity, count))
    return found


_terms, _holds, _limits = Term.__table__, Hold.__table__, CreditLimit.__table__
_student_ids, _course_ids = (
    bindparam("students", expanding=True),
    bindparam("courses", expanding=True),
)
# The students and the courses whose pairs a rule may refuse: anyone with an active
# registration hold or a credit limit of their own, any course with requisites or
# meetings or in a term with a credit limit. Pairs of neither need no check.
_HELD = Statement(
    select(_holds.c.student_id)
    .where(
        _holds.c.student_id.in_(_student_ids),
        _holds.c.released_at.is_(None),
        _holds.c.blocks_registration,
    )
    .union(select(_limits.c.student_id).where(_limits.c.student_id.in_(_student_ids)))
)
_GUARDED = Statement(
    select(_courses.c.id)
    .join_from(_courses, _terms, _terms.c.id == _courses.c.term_id)
    .where(
        _courses.c.id.in_(_course_ids),
        or_(
            func.json_array_length(_courses.c.prerequisites) > 0,
            func.json_array_length(_courses.c.corequisites) > 0,
            func.json_array_length(_courses.c.meetings) > 0,
            _terms.c.max_credits.is_not(None),
        ),
    )
)


def broken_rules(new: Sequence[tuple[int, int]]) -> list[tuple[int, RuleFailure]]:
    """Every registration rule (2 to 6) that the enrolled pairs ``new`` break, by
    position in ``new``: checked once they are in, with the locks of enrolling held."""
    students, courses = sorted({s for s, _ in new}), sorted({c for _, c in new})
    held = {row[0] for row in _HELD.rows({"students": students})} if new else set()
    guarded = {row[0] for row in _GUARDED.rows({"courses": courses})} if new else set()
    broken = []
    for index, (student_id, course_id) in enumerate(new):
        if student_id not in held and course_id not in guarded:
            continue
        found = rules.FINDINGS.first(rules.checking(student_id, course_id, counted=True))
        broken += [(index, failure) for failure in rules.failures(found)]  # type: ignore[arg-type]
    return broken


def enroll_batch(pairs: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Enroll each ``(student_id, course_id)`` pair, all or nothing.

    Returns one item per pair in order: ``student_id``, ``course_id``, ``enrolled_at``
    and ``created`` (false for a pair already enrolled, which changes nothing). Raises
    :class:`BatchRejected` listing every failing pair: an unknown student or course
    (404), a course without room for all its new pairs, or a registration rule broken
    (409). Pairs must be distinct; at most :data:`MAX_PAIRS`.
    """
    with transaction():
        enrolled = insert_batch(pairs)
        new = [(e["student_id"], e["course_id"]) for e in enrolled if e["created"]]
        at = {pair: index for index, pair in enumerate(pairs)}
        broken = broken_rules(new)
        if broken:
            errors = [
                PairError(at[new[index]], 409, failure.slug, failure.detail)
                for index, failure in broken
            ]
            raise BatchRejected(sorted(errors, key=lambda error: error.index))
        return enrolled


def insert_batch(pairs: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """:func:`enroll_batch` but the registration rules, which the caller checks
    (:func:`broken_rules`) before its transaction commits."""
    course_ids = [course_id for _, course_id in pairs]
    capacities = {course["id"]: course["capacity"] for course in lock_courses(course_ids)}
    students = {row[0] for row in _STUDENTS.rows({"ids": sorted({s for s, _ in pairs})})}
    errors = []
    for index, (student_id, course_id) in enumerate(pairs):
        if student_id not in students:
            detail = f"Student {student_id} does not exist."
            errors.append(PairError(index, 404, "student-not-found", detail))
        elif course_id not in capacities:
            detail = f"Course {course_id} does not exist."
            errors.append(PairError(index, 404, "course-not-found", detail))
    existing = existing_pairs(pairs)
    new = [pair for pair in pairs if pair not in existing]
    full = {short.course_id: short for short in shortfalls(new, capacities)}
    for index, pair in enumerate(pairs):
        short = full.get(pair[1])
        if short is not None and pair not in existing:
            detail = (
                f"Course {pair[1]} has {short.free} free seat{'s' if short.free != 1 else ''} "
                f"of {short.capacity}, fewer than the batch's {short.wanted} new pairs."
            )
            errors.append(PairError(index, 409, "course-full", detail))
    if errors:
        raise BatchRejected(sorted(errors, key=lambda error: error.index))
    created = _insert(new)
    created.update(existing)
    return [
        {
            "student_id": student_id,
            "course_id": course_id,
            "enrolled_at": created[(student_id, course_id)],
            "created": (student_id, course_id) not in existing,
        }
        for student_id, course_id in pairs
    ]


def _insert(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Any]:
    """Insert the new pairs and their events; return when each enrolled."""
    if not pairs:
        return {}
    rows = [{"student_id": s, "course_id": c, "enrolled_at": now()} for s, c in pairs]
    statement = events.Recorded(
        insert(_enrollments)
        .values(rows)
        .returning(_enrollments.c.student_id, _enrollments.c.course_id, _enrollments.c.enrolled_at),
        "enrolled",
    )
    inserted = statement.execute({})
    return {(row["student_id"], row["course_id"]): row["enrolled_at"] for row in inserted}
