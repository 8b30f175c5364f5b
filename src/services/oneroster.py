"""Our records in OneRoster 1.2's terms (the Rostering service's REST binding).

The mapping: the school is one org of type ``school`` (its name, identifier and
``sourcedId`` are settings); each term is an academic session of type ``term``, whose
``endDate`` is the day after its last (OneRoster's end date is exclusive) and whose
``schoolYear`` is the year the school year it starts in ends (a school year starts in
``ONEROSTER_SCHOOL_YEAR_START_MONTH``). We have no grading periods. Each of our
courses (an offering, in one term) is a **class** of type ``scheduled``; each course
code, in any case, is a OneRoster **course**, whose classes are its offerings.

A term's or a class's ``sourcedId`` is a random UUID the database gave the row
(``sourced_id``), stable and never reused; a course's is a name-based UUID of its code
(:func:`course_sourced_id`), the same for as long as the code is offered. An entity's
``dateLastModified`` is its row's ``updated_at`` (a course's: its latest offering's).
References (``{"href", "sourcedId", "type"}``) are absolute URLs under ``base``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Uuid, bindparam, func, select

from src.database import Statement
from src.models import Course, DefaultTerm, Term

_terms = Term.__table__
_default = DefaultTerm.__table__
_courses = Course.__table__
#: The namespace of courses' name-based sourcedIds (never change it: consumers key on them).
COURSE_NAMESPACE = uuid.UUID("3f2b8c4e-5a61-4d7e-9b0c-2e8f1a6d4c37")


def course_sourced_id(code: str) -> str:
    """The OneRoster course of a course code: the same UUID for the code in any case."""
    return str(uuid.uuid5(COURSE_NAMESPACE, code.lower()))


def _ref(base: str, collection: str, sourced_id: str, type_: str) -> dict[str, str]:
    return {"href": f"{base}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": type_}


def _timestamp(value: datetime) -> str:
    # OneRoster's form of a UTC instant, to the millisecond (as its CSV binding has it).
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _school_year(starts_on: date) -> str:
    start_month = current_app.config["ONEROSTER_SCHOOL_YEAR_START_MONTH"]
    return str(starts_on.year + 1 if starts_on.month >= start_month else starts_on.year)


def school_sourced_id() -> str:
    """The school org's ``sourcedId``."""
    return str(current_app.config["ONEROSTER_SCHOOL_SOURCED_ID"])


_SCHOOL_SINCE = Statement(
    select(_terms.c.created_at).join(_default, _default.c.term_id == _terms.c.id)
)


def school() -> dict[str, Any]:
    """The school, as an org. It last changed when the service first ran (the default
    term's creation): its fields are settings."""
    config = current_app.config
    return {
        "sourcedId": school_sourced_id(),
        "status": "active",
        "dateLastModified": _timestamp(_SCHOOL_SINCE.scalar()),
        "name": config["ONEROSTER_SCHOOL_NAME"],
        "type": "school",
        "identifier": config["ONEROSTER_SCHOOL_IDENTIFIER"],
    }


def academic_session(term: Mapping[str, Any]) -> dict[str, Any]:
    """A term's row as a OneRoster academic session."""
    return {
        "sourcedId": str(term["sourced_id"]),
        "status": "active",
        "dateLastModified": _timestamp(term["updated_at"]),
        "metadata": {"code": term["code"]},
        "title": term["name"],
        "type": "term",
        "startDate": term["starts_on"].isoformat(),
        "endDate": (term["ends_on"] + timedelta(days=1)).isoformat(),
        "schoolYear": _school_year(term["starts_on"]),
    }


_TERM_COLUMNS = (
    _terms.c.sourced_id,
    _terms.c.code,
    _terms.c.name,
    _terms.c.starts_on,
    _terms.c.ends_on,
    _terms.c.updated_at,
)
# OneRoster's default order is by sourcedId; the unique index on it serves the page.
_TERMS_PAGE = Statement(
    select(*_TERM_COLUMNS)
    .order_by(_terms.c.sourced_id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_TERMS_TOTAL = Statement(select(func.count()).select_from(_terms))
_TERM = Statement(
    select(*_TERM_COLUMNS).where(_terms.c.sourced_id == bindparam("sourced_id", type_=Uuid))
)


def terms_page(limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the terms as academic sessions, in ``sourcedId`` order, and how many
    there are."""
    rows = _TERMS_PAGE.mappings({"limit": limit, "offset": offset})
    return [academic_session(row) for row in rows], _TERMS_TOTAL.scalar()


def term(sourced_id: str) -> dict[str, Any] | None:
    """The term with this ``sourcedId`` as an academic session, or ``None``."""
    wanted = _uuid(sourced_id)
    row = None if wanted is None else _TERM.first({"sourced_id": wanted})
    return None if row is None else academic_session(row)


def a_class(row: Mapping[str, Any], base: str) -> dict[str, Any]:
    """A course (an offering) as a OneRoster class: its code, term and first room;
    capacity and seats in ``metadata``."""
    capacity, enrolled = row["capacity"], row["enrolled_count"]
    item: dict[str, Any] = {
        "sourcedId": str(row["sourced_id"]),
        "status": "active",
        "dateLastModified": _timestamp(row["updated_at"]),
        "metadata": {
            "capacity": capacity,
            "enrolledCount": enrolled,
            "seatsAvailable": None if capacity is None else capacity - enrolled,
        },
        "title": row["title"],
        "classCode": row["code"],
        "classType": "scheduled",
        "course": _ref(base, "courses", course_sourced_id(row["code"]), "course"),
        "school": _ref(base, "orgs", school_sourced_id(), "org"),
        "terms": [_ref(base, "academicSessions", str(row["term_sourced_id"]), "academicSession")],
    }
    rooms = [meeting["room"] for meeting in row["meetings"] if meeting.get("room")]
    if rooms:
        item["location"] = rooms[0]
    return item


_class_rows = select(
    _courses.c.sourced_id,
    _courses.c.code,
    _courses.c.title,
    _courses.c.capacity,
    _courses.c.enrolled_count,
    _courses.c.meetings,
    _courses.c.updated_at,
    _terms.c.sourced_id.label("term_sourced_id"),
).join_from(_courses, _terms, _terms.c.id == _courses.c.term_id)
_in_term = _terms.c.sourced_id == bindparam("term", type_=Uuid)
_of_code = func.lower(_courses.c.code) == bindparam("code")
#: The classes (all, in a term, or of a course code), a page in sourcedId order, and
#: how many there are.
_CLASSES = {
    scope: (
        Statement(
            _class_rows.where(*where)
            .order_by(_courses.c.sourced_id)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        ),
        Statement(
            select(func.count())
            .select_from(_courses.join(_terms, _terms.c.id == _courses.c.term_id))
            .where(*where)
        ),
    )
    for scope, where in (("all", ()), ("term", (_in_term,)), ("code", (_of_code,)))
}
_CLASS = Statement(_class_rows.where(_courses.c.sourced_id == bindparam("sourced_id", type_=Uuid)))


def classes_page(
    base: str, limit: int, offset: int, *, term: str | None = None, code: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of the classes (of the term with sourcedId ``term``, or of the course code
    ``code``, when given), in sourcedId order, and how many there are."""
    scope, params = "all", {"limit": limit, "offset": offset}
    if term is not None:
        scope, params["term"] = "term", uuid.UUID(term)
    elif code is not None:
        scope, params["code"] = "code", code.lower()
    page, total = _CLASSES[scope]
    return [a_class(row, base) for row in page.mappings(params)], total.scalar(params)


def a_class_by_id(sourced_id: str, base: str) -> dict[str, Any] | None:
    """The class with this ``sourcedId``, or ``None``."""
    wanted = _uuid(sourced_id)
    row = None if wanted is None else _CLASS.first({"sourced_id": wanted})
    return None if row is None else a_class(row, base)


_OFFERINGS = Statement(
    select(_courses.c.code, _courses.c.title, _courses.c.updated_at).order_by(_courses.c.id)
)


def _courses_by_sourced_id(base: str) -> dict[str, dict[str, Any]]:
    # Every course code once, from its offerings (a catalog is thousands at most), in
    # sourcedId order: the latest offering names it; the latest change to any dates it.
    latest: dict[str, Mapping[str, Any]] = {}
    modified: dict[str, datetime] = {}
    for row in _OFFERINGS.mappings():
        key = course_sourced_id(row["code"])
        latest[key] = row
        modified[key] = max(row["updated_at"], modified.get(key, row["updated_at"]))
    return {
        key: {
            "sourcedId": key,
            "status": "active",
            "dateLastModified": _timestamp(modified[key]),
            "title": latest[key]["title"],
            "courseCode": latest[key]["code"],
            "org": _ref(base, "orgs", school_sourced_id(), "org"),
        }
        for key in sorted(latest)
    }


def courses_page(base: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the courses (course codes), in sourcedId order, and how many there are."""
    every = list(_courses_by_sourced_id(base).values())
    return every[offset : offset + limit], len(every)


def course(sourced_id: str, base: str) -> dict[str, Any] | None:
    """The course with this ``sourcedId``, or ``None``."""
    return _courses_by_sourced_id(base).get(sourced_id)


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
