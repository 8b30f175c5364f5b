"""The registration rules: what must hold for a student to take a seat, or a place in
line, in a course.

The rules, in the order their failures are reported (the first is the problem's type):

1. ``registration-closed``: between the term's ``registration_opens_at`` and
   ``add_deadline`` only (``None`` is no bound); for the student's own key only.
2. ``hold-active``: the student has an active hold that blocks registration.
3. ``prerequisite-missing``: each of the course's prerequisites was taken, not dropped
   nor withdrawn, in a term that ended before this course's term starts.
4. ``corequisite-missing``: each corequisite is taken in the same term.
5. ``time-conflict``: no meeting overlaps one of another course the student takes in
   the term (a shared day, and each starts before the other ends).
6. ``credit-limit-exceeded``: the term's credits, this course's included, stay within
   the student's own limit for the term, else the term's ``max_credits``.
7. ``course-full``: capacity, as ``src.services.enrollments`` keeps it.

How they are checked: :func:`findings` is one SELECT, over the course's row, of what
each rule found for the student, and of ``admit``: every rule passes (or is
overridden), a seat is free and the student is not enrolled yet. Enrolling inserts
from it ``WHERE admit``, in the same statement, after locking the course's and the
student's rows; every writer of what the rules read (enrollments, holds, credit
limits) takes the student's lock too, so the findings are final until the enrollment
commits. The window (1) and the seat (7) come from the locked rows, as parameters.

What each rule finds is read, on PostgreSQL, by the function
``registration_findings(student, course)`` that the migration
``20261209_registration_rules`` creates (a PL/pgSQL function keeps its query's plan,
which took four times as long to make as to run); on SQLite by the same query in
SQLAlchemy's terms (:func:`_found_on_sqlite`). A change to a rule changes both; the
suite runs every rule on both databases. What breaks a rule, and what admits an
enrollment, is decided once, above either (:func:`findings`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from src.database import Statement
from src.exceptions import RuleFailure
from src.models import Course, CreditLimit, Hold, Student, StudentCourse, Term, WaitlistEntry
from src.models.base import UTCDateTime

#: The rules an admin may override, by slug; the window and capacity are never
#: overridden (admins are not bound by the window).
OVERRIDABLE = (
    "hold-active",
    "prerequisite-missing",
    "corequisite-missing",
    "time-conflict",
    "credit-limit-exceeded",
)


_SPACE = literal_column("' '")

_courses = Course.__table__
_terms = Term.__table__
_holds = Hold.__table__
_limits = CreditLimit.__table__
_entries = WaitlistEntry.__table__
_student_id = bindparam("student_id", type_=Integer)
_course_id = bindparam("course_id", type_=Integer)


def _flag(name: str) -> Any:
    return bindparam(name, type_=Boolean)


#: Every rule's slug, in the order refusals list them.
RULES = ("registration-closed", *OVERRIDABLE, "course-full")

#: The parameter that overrides each rule (true: skip it), and the column of
#: :func:`findings` that says whether the student breaks it.
OVERRIDE_PARAMS = {slug: "override_" + slug.replace("-", "_") for slug in OVERRIDABLE}
BROKEN = {slug: "breaks_" + slug.replace("-", "_") for slug in OVERRIDABLE}


def _field(meeting: Any, name: str) -> Any:
    return func.json_extract(meeting.c.value, f"$.{name}")


def _found_on_sqlite() -> Any:
    # The findings as the migration's registration_findings() reads them on
    # PostgreSQL (20261209_registration_rules), in SQLite's JSON functions.
    this = aliased(_courses, name="this_course")
    this_term = aliased(_terms, name="this_term")
    term_id = this.c.term_id
    taken = aliased(StudentCourse.__table__, name="taken")
    other = aliased(_courses, name="other_course")
    other_term = aliased(_terms, name="other_term")
    takes = and_(taken.c.student_id == _student_id, other.c.id == taken.c.course_id)

    def missing(codes: Any, where: Any) -> Any:
        # The course's codes the student has no enrollment for, as ``where`` says.
        wanted = func.json_each(codes).table_valued("value").alias("wanted")
        met = (
            select(taken.c.course_id)
            .select_from(taken)
            .join(other, other.c.id == taken.c.course_id)
            .join(other_term, other_term.c.id == other.c.term_id)
            .where(takes, func.lower(other.c.code) == func.lower(wanted.c.value), where)
            # Two levels down: SQLAlchemy correlates only the nearest level by itself.
            .correlate(this, this_term, wanted)
        )
        return (
            select(func.group_concat(wanted.c.value, _SPACE))
            .select_from(wanted)
            .where(~met.exists())
            .scalar_subquery()
        )

    mine, theirs = (
        func.json_each(this.c.meetings).table_valued("value").alias("mine"),
        func.json_each(other.c.meetings).table_valued("value").alias("theirs"),
    )
    my_days, their_days = (
        func.json_each(mine.c.value, "$.days").table_valued("value").alias("my_days"),
        func.json_each(theirs.c.value, "$.days").table_valued("value").alias("their_days"),
    )
    shared_day = (
        select(literal(1))
        .select_from(my_days)
        .join(their_days, my_days.c.value == their_days.c.value)
        .exists()
    )
    conflict = (
        select(func.min(other.c.id))
        .select_from(taken)
        .join(other, other.c.id == taken.c.course_id)
        .join(mine, true())
        .join(theirs, true())
        .where(
            takes,
            other.c.term_id == term_id,
            other.c.id != this.c.id,
            _field(mine, "starts_at") < _field(theirs, "ends_at"),
            _field(theirs, "starts_at") < _field(mine, "ends_at"),
            shared_day,
        )
        .scalar_subquery()
    )
    enrolled_credits = (
        select(func.coalesce(func.sum(other.c.credits), 0))
        .select_from(taken)
        .join(other, other.c.id == taken.c.course_id)
        .where(takes, other.c.term_id == term_id)
        .scalar_subquery()
    )
    own_limit = (
        select(_limits.c.max_credits)
        .where(_limits.c.student_id == _student_id, _limits.c.term_id == term_id)
        .scalar_subquery()
    )
    pair = (taken.c.student_id == _student_id, taken.c.course_id == this.c.id)
    found = (
        select(
            select(taken.c.enrolled_at).where(*pair).scalar_subquery().label("enrolled_at"),
            exists()
            .where(_entries.c.student_id == _student_id, _entries.c.course_id == this.c.id)
            .label("waiting"),
            exists()
            .where(
                _holds.c.student_id == _student_id,
                _holds.c.released_at.is_(None),
                _holds.c.blocks_registration,
            )
            .label("hold_active"),
            missing(this.c.prerequisites, other_term.c.ends_on < this_term.c.starts_on).label(
                "missing_prerequisites"
            ),
            missing(this.c.corequisites, other.c.term_id == term_id).label("missing_corequisites"),
            conflict.label("conflict_course_id"),
            enrolled_credits.label("enrolled_credits"),
            this.c.credits,
            func.coalesce(own_limit, this_term.c.max_credits).label("max_credits"),
        )
        .join_from(this, this_term, this_term.c.id == this.c.term_id)
        .where(this.c.id == _course_id)
        .subquery("found")
    )
    return found


def _found_on_postgresql() -> Any:
    # A PL/pgSQL function keeps its query's plan for the connection (the migration
    # 20261209_registration_rules says why and what it reads).
    return select(
        func.registration_findings(_student_id, _course_id)
        .table_valued(
            column("enrolled_at", UTCDateTime()),
            column("waiting", Boolean),
            column("hold_active", Boolean),
            column("missing_prerequisites", String),
            column("missing_corequisites", String),
            column("conflict_course_id", Integer),
            column("enrolled_credits", Integer),
            column("credits", Integer),
            column("max_credits", Integer),
        )
        .render_derived()
    ).subquery("found")


def findings(dialect: str) -> Any:
    """The SELECT of what each rule finds for ``student_id`` in ``course_id``, in the
    SQL of ``dialect`` (``postgresql`` or ``sqlite``): one row, or none without the
    course.

    Columns: ``enrolled_at`` (of an enrollment already there), ``waiting``,
    ``hold_active``, ``missing_prerequisites`` and ``missing_corequisites`` (codes
    separated by spaces, null when none), ``conflict_course_id``, ``enrolled_credits``,
    ``credits``, ``max_credits``, ``total_credits`` (the term's with this course's,
    which ``counted`` says are in ``enrolled_credits`` already); for each of rules 2 to
    6 whether the student breaks it (:data:`BROKEN`); ``rules_pass`` (each passed, or
    overridden by its :data:`OVERRIDE_PARAMS` flag) and ``admit`` (those, the window
    open: not ``closed``, a seat free: not ``full``, and neither an enrollment nor a
    place in line yet).
    """
    found = _found_on_postgresql() if dialect == "postgresql" else _found_on_sqlite()
    # The term's credits with this course's: counted already when the enrollment is
    # there (a batch checks its pairs once they are inserted).
    total_credits = found.c.enrolled_credits + case((_flag("counted"), 0), else_=found.c.credits)
    breaks = {
        "hold-active": found.c.hold_active,
        "prerequisite-missing": found.c.missing_prerequisites.is_not(None),
        "corequisite-missing": found.c.missing_corequisites.is_not(None),
        "time-conflict": found.c.conflict_course_id.is_not(None),
        "credit-limit-exceeded": and_(
            found.c.max_credits.is_not(None), total_credits > found.c.max_credits
        ),
    }
    rules_pass = and_(
        *(or_(not_(broken), _flag(OVERRIDE_PARAMS[slug])) for slug, broken in breaks.items())
    )
    admit = and_(
        rules_pass,
        not_(_flag("closed")),
        not_(_flag("full")),
        found.c.enrolled_at.is_(None),
        # A student in line takes a seat by promotion only, in their turn.
        not_(found.c.waiting),
    )
    return select(
        *found.c,
        total_credits.label("total_credits"),
        *(broken.label(BROKEN[slug]) for slug, broken in breaks.items()),
        rules_pass.label("rules_pass"),
        admit.label("admit"),
    )


_students = Student.__table__
# FOR NO KEY UPDATE, as enrolling locks the student after the course: it waits for an
# enrollment, a hold or a limit in progress for the student, and they wait for it.
_LOCK_STUDENT = Statement(
    select(_students.c.id).where(_students.c.id == _student_id).with_for_update(key_share=True)
)


def lock_student(student_id: int) -> bool:
    """Lock the student's row, as every writer of what the rules read does before it
    reads or writes (see the module); whether there is such a student."""
    return _LOCK_STUDENT.scalar({"student_id": student_id}) is not None


#: What the rules find for ``student_id`` in ``course_id`` (see :func:`findings`).
FINDINGS = Statement(findings("sqlite"), postgresql=findings("postgresql"))


def blocked_by(student_id: int, course_id: int) -> list[str]:
    """The rules 2 to 6 that keep the student from a seat in the course now (a
    student waiting in line is promoted only when there are none)."""
    found = FINDINGS.first(checking(student_id, course_id))
    return [slug for slug in OVERRIDABLE if found is not None and found[BROKEN[slug]]]


def checking(student_id: int, course_id: int, *, counted: bool = False) -> dict[str, Any]:
    """The parameters of :func:`findings` that check rules 2 to 6 alone (no window, no
    seat, no override), for an enrollment to make or (``counted``) one made."""
    return {
        "student_id": student_id,
        "course_id": course_id,
        "closed": False,
        "full": False,
        "counted": counted,
    } | dict.fromkeys(OVERRIDE_PARAMS.values(), False)


def parameters(
    student_id: int,
    course: Mapping[str, Any],
    *,
    closed: bool,
    full: bool,
    overrides: Collection[str] = (),
) -> dict[str, Any]:
    """The parameters of :func:`findings` for the student and a locked ``course`` row."""
    return {
        "student_id": student_id,
        "course_id": course["id"],
        "closed": closed,
        "full": full,
        "counted": False,
    } | {param: slug in overrides for slug, param in OVERRIDE_PARAMS.items()}


def window_closed(course: Mapping[str, Any], at: datetime | None = None) -> RuleFailure | None:
    """Rule 1 for the locked ``course`` row (with its term's registration instants)."""
    at = at or datetime.now(UTC)
    opens, closes = course["registration_opens_at"], course["add_deadline"]
    if opens is not None and at < opens:
        return RuleFailure(
            "registration-closed",
            f"Registration for term {course['term_code']} opens at {opens.isoformat()}.",
        )
    if closes is not None and at > closes:
        return RuleFailure(
            "registration-closed",
            f"Registration for term {course['term_code']} closed at {closes.isoformat()}.",
        )
    return None


def failures(found: Mapping[str, Any], overrides: Collection[str] = ()) -> list[RuleFailure]:
    """Rules 2 to 6 that a row of :func:`findings` breaks and ``overrides`` does not
    skip, in the rules' order, each with its detail."""
    broken = [slug for slug in OVERRIDABLE if found[BROKEN[slug]] and slug not in overrides]
    return [_failure(slug, found) for slug in broken]


def _failure(slug: str, found: Mapping[str, Any]) -> RuleFailure:
    if slug == "hold-active":
        return RuleFailure(slug, "The student has an active hold that blocks registration.")
    if slug == "prerequisite-missing":
        codes = found["missing_prerequisites"].split(" ")
        detail = f"Prerequisites not taken in an earlier term: {', '.join(codes)}."
        return RuleFailure(slug, detail, {"codes": codes})
    if slug == "corequisite-missing":
        codes = found["missing_corequisites"].split(" ")
        detail = f"Corequisites not taken in the same term: {', '.join(codes)}."
        return RuleFailure(slug, detail, {"codes": codes})
    if slug == "time-conflict":
        other = found["conflict_course_id"]
        detail = f"A meeting overlaps a meeting of course {other}, which the student takes."
        return RuleFailure(slug, detail, {"course_id": other})
    total, limit = found["total_credits"], found["max_credits"]
    detail = f"{total} credits in the term would exceed the limit of {limit}."
    return RuleFailure(slug, detail, {"credits": total, "max_credits": limit})
