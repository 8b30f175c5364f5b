"""Operations on terms, and which term is the default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from src.database import Listing, Page, Statement, now, transaction
from src.exceptions import (
    InvalidChange,
    TermCodeTaken,
    TermHasCourses,
    TermIsDefault,
    TermNotFound,
)
from src.models import Course, DefaultTerm, Term
from src.services import TERM_COLUMNS, Precondition

_terms = Term.__table__
_default = DefaultTerm.__table__
_courses = Course.__table__
_term_id = bindparam("term_id")
_default_id = select(_default.c.term_id).where(_default.c.id == 1).scalar_subquery()
_columns = (*_terms.c, (_terms.c.id == _default_id).label("is_default"))

#: The registration instants, in the order they must come where given.
DEADLINES = ("registration_opens_at", "add_deadline", "drop_deadline", "withdraw_deadline")


def date_problems(term: Mapping[str, Any]) -> dict[str, list[str]]:
    """What is wrong with a term's dates, by field: ``starts_on`` after ``ends_on``, or
    a registration instant before one that must come first (nulls are no bound)."""
    problems: dict[str, list[str]] = {}
    if term["starts_on"] > term["ends_on"]:
        problems["ends_on"] = ["Must not be before starts_on."]
    earlier: str | None = None
    for name in DEADLINES:
        if term[name] is None:
            continue
        if earlier is not None and term[name] < term[earlier]:
            problems[name] = [f"Must not be before {earlier}."]
        earlier = name
    return problems


_LIST = Listing(
    select(*_columns).order_by(_terms.c.starts_on, _terms.c.id),
    select(func.count()).select_from(_terms),
    TERM_COLUMNS,
    order=("starts_on", "id"),
)


def list_terms(limit: int, offset: int) -> Page:
    """A page of the terms, earliest start first (then by id)."""
    return _LIST.page({}, limit, offset)  # type: ignore[return-value]


_TERM = Statement(select(*_columns).where(_terms.c.id == _term_id))


def get_term(term_id: int) -> dict[str, Any]:
    """The term with ``term_id``; :class:`TermNotFound` if there is none."""
    term = _TERM.first({"term_id": term_id})
    if term is None:
        raise TermNotFound(term_id)
    return term


_DEFAULT_TERM = Statement(select(*_columns).where(_terms.c.id == _default_id))


def default_term() -> dict[str, Any]:
    """The default term: the one a course joins when none is given."""
    return _DEFAULT_TERM.first()  # type: ignore[return-value]


#: What a request may set: every column but the id and the timestamps.
FIELDS = ("code", "name", "starts_on", "ends_on", *DEADLINES, "max_credits")
_CREATE = Statement(
    insert(_terms)
    .values({name: bindparam(name) for name in FIELDS} | {"created_at": now(), "updated_at": now()})
    .returning(_terms.c.id)
)


def create_term(data: Mapping[str, Any]) -> dict[str, Any]:
    """Add a term with every field of :data:`FIELDS`; :class:`InvalidChange` if its
    dates are out of order, :class:`TermCodeTaken` if its code is in use in any case."""
    problems = date_problems(data)
    if problems:
        raise InvalidChange(problems)
    try:
        with transaction():
            term_id = _CREATE.scalar(data)
            return get_term(term_id)
    except IntegrityError as error:
        # The unique index on lower(code) is the guard against two requests racing.
        raise TermCodeTaken(data["code"]) from error


# FOR UPDATE: a course joining the term, or the default moving to it, waits (their
# foreign keys take a share lock on the row), so the checks below stay true.
_LOCK = Statement(select(*_columns).where(_terms.c.id == _term_id).with_for_update(of=_terms))


def _locked(term_id: int, precondition: Precondition | None) -> dict[str, Any]:
    """The term, locked for a change in the caller's transaction, once ``precondition``
    accepts it; :class:`TermNotFound` if there is none."""
    term = _LOCK.first({"term_id": term_id})
    if term is None:
        raise TermNotFound(term_id)
    if precondition is not None:
        precondition(term)
    return term


_UPDATE = Statement(
    update(_terms)
    .where(_terms.c.id == _term_id)
    .values({name: bindparam(name) for name in FIELDS} | {"updated_at": now()})
)
# One row, one statement: there is never no default, nor two.
_MAKE_DEFAULT = Statement(update(_default).where(_default.c.id == 1).values(term_id=_term_id))


def update_term(
    term_id: int, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> dict[str, Any]:
    """Apply a partial update to a term, if ``precondition`` accepts it as it is.

    The dates are checked as they will be (:class:`InvalidChange`); ``is_default``
    (only ever ``True``) makes it the default term, in place of the one that was.
    """
    try:
        with transaction():
            term = _locked(term_id, precondition)
            fields = {name: value for name, value in changes.items() if name in FIELDS}
            if any(term[name] != value for name, value in fields.items()):
                values = {name: fields.get(name, term[name]) for name in FIELDS}
                problems = date_problems(values)
                if problems:
                    raise InvalidChange(problems)
                _UPDATE.run(values | {"term_id": term_id})
            if changes.get("is_default") and not term["is_default"]:
                _MAKE_DEFAULT.run({"term_id": term_id})
            return get_term(term_id)
    except IntegrityError as error:
        raise TermCodeTaken(changes["code"]) from error


_HAS_COURSES = Statement(select(exists().where(_courses.c.term_id == _term_id)))
_DELETE = Statement(delete(_terms).where(_terms.c.id == _term_id))


def delete_term(term_id: int, precondition: Precondition | None = None) -> None:
    """Delete a term that has no courses (:class:`TermHasCourses`) and is not the
    default (:class:`TermIsDefault`), if ``precondition`` accepts it as it is. The
    foreign keys' ON DELETE RESTRICT stay the last guard."""
    try:
        with transaction():
            term = _locked(term_id, precondition)
            if term["is_default"]:
                raise TermIsDefault(term_id)
            if _HAS_COURSES.scalar({"term_id": term_id}):
                raise TermHasCourses(term_id)
            _DELETE.run({"term_id": term_id})
    except IntegrityError as error:
        raise TermHasCourses(term_id) from error


# FOR KEY SHARE, as the foreign key of a course joining it takes: the term cannot be
# deleted meanwhile, and terms being read or updated are not held up.
_TERM_FOR_COURSE = Statement(
    select(_terms.c.id, _terms.c.code)
    .where(_terms.c.id == func.coalesce(bindparam("term_id"), _default_id))
    .with_for_update(key_share=True, read=True)
)


def term_for_course(term_id: int | None) -> dict[str, Any]:
    """The term a course is put in, ``term_id`` or the default term, kept from being
    deleted until the caller's transaction ends; :class:`TermNotFound` if none."""
    term = _TERM_FOR_COURSE.first({"term_id": term_id})
    if term is None:
        raise TermNotFound(term_id)  # type: ignore[arg-type]
    return term
