"""Enrollment events: written with each change, read as one pair's history or as a feed.

Writing
-------
Every statement that changes enrollments is a :class:`Recorded`: it writes one event
per row it changed (its ``RETURNING``), in the same transaction (on PostgreSQL in the
same statement), so an event exists if and only if its change committed, and a change
that two requests race for is recorded once.

The feed, and why it never misses an event
------------------------------------------
Ids come from a sequence, taken when the event is written, not when it commits: on
PostgreSQL a transaction holding id 5 can commit after one holding id 6, and a
poller already past 6 would never see 5. Ordering by transaction id alone fails the
other way: a transaction that got its id early (from an earlier write) can drop an
enrollment that a younger transaction created.

The feed cuts history into batches by snapshots, as PgQ does. A batch holds the
events of the transactions that a snapshot ``hi`` sees as committed and the previous
batch's snapshot ``lo`` did not (``pg_visible_in_snapshot``, computed here from the
snapshot's ``xmin:xmax:xip`` text on the ``txid`` column). Snapshots only ever grow,
so every committed transaction falls into exactly one batch: the first whose
snapshot sees it. Inside a batch, events are in id order. Two changes of one pair
are in the right order too: a change that depends on another (a drop of the
enrollment a younger transaction made) can only see it, and so only take its event
id, after that transaction committed, so its id is larger; and any snapshot that sees
the later commit sees the earlier one, so the later change is never in an earlier
batch.

A cursor is ``(lo, hi, last id)``: ``hi`` is taken on the first page of a batch and
kept until the batch is read, then becomes the next ``lo``.

Cost: on writes, nothing but the ``txid`` column's default (the transaction has an id
already, being a writer); no lock is shared between writers. On reads, one statement
for the snapshot when a batch starts, and a range scan of the ``txid`` index from
``lo``'s xmin, so a page at the end of a long feed reads only the recent events. A
transaction left open for long holds ``xmin`` back and widens that range.

SQLite has one writer at a time (``BEGIN IMMEDIATE``), so ids are taken in commit
order and nothing is ever in progress: there an event's id stands for its
transaction's, and a snapshot is "every id below the next one" (``n:n:``). The same
cursors and the same reading follow, from two forms of the page's statement.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, g, has_request_context
from itsdangerous import BadSignature, Signer
from sqlalchemy import (
    Integer,
    String,
    all_,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import BigInteger

from src.database import Listing, Page, Statement, now, transaction
from src.exceptions import CourseNotFound, CursorExpired, DomainError, StudentNotFound
from src.models import Course, EnrollmentEvent, FeedHorizon, Student, StudentCourse, WaitlistEntry

_events = EnrollmentEvent.__table__


@dataclass(frozen=True)
class Actor:
    """Who caused a change, as events record it. Never the key itself."""

    kind: str
    key_prefix: str | None = None
    role: str | None = None

    def shown(self) -> dict[str, str | None]:
        """The actor as the API shows it: ``kind``, and for a key its prefix and role."""
        if self.kind == "api_key":
            return {"kind": self.kind, "key_prefix": self.key_prefix, "role": self.role}
        return {"kind": self.kind}

    def columns(self) -> dict[str, str | None]:
        """The event columns that record this actor."""
        return {
            "actor_kind": self.kind,
            "actor_key_prefix": self.key_prefix,
            "actor_role": self.role,
        }


CLI = Actor("cli")
SYSTEM = Actor("system")


_acting_as: ContextVar[Actor | None] = ContextVar("acting_as", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Record the changes made inside the block as ``actor``'s (a command says so)."""
    token = _acting_as.set(actor)
    try:
        yield
    finally:
        _acting_as.reset(token)


def current_actor() -> Actor:
    """Who is making changes now: whoever :func:`acting_as` names, else the caller of
    this request (its API key), else the command line."""
    actor = _acting_as.get()
    if actor is not None:
        return actor
    if has_request_context():
        principal = g.get("principal")
        if principal is not None:
            return Actor("api_key", principal.prefix, principal.role)
        return SYSTEM
    return CLI


_EVENT_COLUMNS = [
    "type",
    "student_id",
    "course_id",
    "reason",
    "actor_kind",
    "actor_key_prefix",
    "actor_role",
    "overrides",
    "override_reason",
]


def recorded_by(
    actor: Actor | None = None,
    reason: str | None = None,
    overrides: Sequence[str] = (),
    override_reason: str | None = None,
) -> dict[str, str | None]:
    """The parameters that record who made a change (``actor``, else the caller) and
    why, and the registration rules they overrode with their reason, for a statement
    built with :func:`record_from`."""
    return {
        "reason": reason,
        "overrides": " ".join(overrides) or None,
        "override_reason": override_reason,
    } | (actor or current_actor()).columns()


def _term_of(course_id: Any) -> Any:
    """The term of the course, as an event records it."""
    courses = Course.__table__
    return select(courses.c.term_id).where(courses.c.id == course_id).scalar_subquery()


def record_from(changed: Any, type_: str | ColumnElement[str]) -> Any:
    """A CTE that records an event of ``type_`` (a type, or an expression that picks
    one) for each row of the CTE ``changed`` (its ``student_id`` and ``course_id``), as
    :class:`Recorded` does; the statement takes the parameters of :func:`recorded_by`."""
    return (
        insert(_events)
        .from_select(
            [*_EVENT_COLUMNS, "term_id", "occurred_at"],
            select(
                literal(type_) if isinstance(type_, str) else type_,
                changed.c.student_id,
                changed.c.course_id,
                bindparam("reason"),
                bindparam("actor_kind"),
                bindparam("actor_key_prefix"),
                bindparam("actor_role"),
                bindparam("overrides"),
                bindparam("override_reason"),
                _term_of(changed.c.course_id),
                now(),
            ),
        )
        .cte("recorded")
    )


_RECORD = Statement(
    insert(_events).values(
        {name: bindparam(name) for name in _EVENT_COLUMNS}
        | {"term_id": _term_of(bindparam("course_id")), "occurred_at": now()}
    )
)


class Recorded:
    """A statement that changes enrollments (returning the ``student_id`` and
    ``course_id`` of each row it changed) and records an event of ``type_`` per row.

    On PostgreSQL the event rides in the change's own statement, as a data-modifying
    CTE: no extra round trip on the hot paths. SQLite has no such CTE and no round
    trips to save; there the events follow in a second statement. Either way the
    events come from the rows the statement changed, never from an earlier read: two
    requests racing to change one row record it once.
    """

    def __init__(self, change: Any, type_: str) -> None:
        self.type = type_
        self._change = Statement(change)
        changed = change.cte("changed")
        self.statement = Statement(
            self._change_then_record,
            postgresql=select(changed).add_cte(record_from(changed, type_)),
        )

    def _change_then_record(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        rows = self._change.mappings(params)
        if rows:
            recorded = {name: params[name] for name in _EVENT_COLUMNS if name in params}
            _RECORD.run_many(
                [
                    {"type": self.type, "student_id": r["student_id"], "course_id": r["course_id"]}
                    | recorded
                    for r in rows
                ]
            )
        return rows

    def execute(
        self, params: Mapping[str, Any], *, reason: str | None = None, actor: Actor | None = None
    ) -> list[dict[str, Any]]:
        """Make the change and record it (by ``actor``, else the caller); return the
        changed rows."""
        return self.statement.mappings({**params, **recorded_by(actor, reason)})


def as_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event row as the API shows it: an opaque string id, and the actor as an object."""
    actor = Actor(row["actor_kind"], row["actor_key_prefix"], row["actor_role"])
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "student_id": row["student_id"],
        "course_id": row["course_id"],
        "term_id": row["term_id"],
        "occurred_at": row["occurred_at"],
        "actor": actor.shown(),
        "reason": row["reason"],
        "overrides": row["overrides"].split(" ") if row["overrides"] else [],
        "override_reason": row["override_reason"],
    }


_students = Student.__table__
_courses = Course.__table__
_student_id = bindparam("student_id")
_course_id = bindparam("course_id")
_pair_exists = and_(
    exists().where(_students.c.id == _student_id),
    exists().where(_courses.c.id == _course_id),
)
_pair_events = and_(_events.c.student_id == _student_id, _events.c.course_id == _course_id)
# No row when the student or the course is missing (a dropped pair keeps its history).
_HISTORY = Listing(
    select(_events).where(_pair_events).order_by(_events.c.id),
    select(select(func.count()).where(_pair_events).scalar_subquery()).where(_pair_exists),
    [column.key for column in _events.c],
)
_STUDENT_EXISTS = Statement(select(exists().where(_students.c.id == _student_id)))


def history(student_id: int, course_id: int, limit: int, offset: int) -> Page:
    """A page of the pair's events, oldest first; :class:`StudentNotFound` or
    :class:`CourseNotFound` when either is missing."""
    params = {"student_id": student_id, "course_id": course_id}
    page = _HISTORY.page(params, limit, offset)
    if page is None:
        raise _missing_pair(student_id, course_id)
    return page


def _missing_pair(student_id: int, course_id: int) -> DomainError:
    if not _STUDENT_EXISTS.scalar({"student_id": student_id}):
        return StudentNotFound(student_id)
    return CourseNotFound(course_id)


# -- The feed -------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A cursor this service did not hand out."""


_SNAPSHOT = re.compile(r"^(\d{1,19}):(\d{1,19}):((?:\d{1,19}(?:,\d{1,19})*)?)$")
#: More transactions in progress at once than PostgreSQL can have connections.
_MAX_IN_PROGRESS = 10_000
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Snapshot:
    """A PostgreSQL snapshot (``pg_current_snapshot()``): transactions below ``xmin``
    have ended, those from ``xmax`` on had not begun, ``xip`` were in progress."""

    xmin: int
    xmax: int
    xip: tuple[int, ...] = ()

    @classmethod
    def parse(cls, value: str) -> Snapshot:
        """Parse ``xmin:xmax:xip,...``; :class:`InvalidCursor` unless well formed."""
        match = _SNAPSHOT.match(value)
        if match is None:
            raise InvalidCursor(value)
        xmin, xmax = int(match[1]), int(match[2])
        xip = tuple(int(x) for x in match[3].split(",")) if match[3] else ()
        in_range = all(xmin <= x < xmax for x in xip)
        if not (xmin <= xmax <= _MAX_ID and in_range and len(xip) <= _MAX_IN_PROGRESS):
            raise InvalidCursor(value)
        if list(xip) != sorted(set(xip)):
            raise InvalidCursor(value)
        return cls(xmin, xmax, xip)

    def __str__(self) -> str:
        return f"{self.xmin}:{self.xmax}:{','.join(map(str, self.xip))}"


#: Sees nothing: where the feed begins.
NOTHING = Snapshot(0, 0)


@dataclass(frozen=True)
class Cursor:
    """Where a client is in the feed: past the batch seen by ``lo``, and, inside the
    batch ``hi`` sees, past the event ``last_id``; ``prunes`` is how many prunes the
    feed had had when the client was last known to have read past them all."""

    lo: Snapshot = NOTHING
    hi: Snapshot | None = None
    last_id: int = 0
    prunes: int = 0

    def encode(self) -> str:
        """The opaque string handed to clients, signed (see :func:`_signer`)."""
        raw = f"2|{self.lo}|{self.hi or ''}|{self.last_id}|{self.prunes}"
        text = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        return _signer().sign(text).decode()

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """The cursor ``encode`` made; :class:`InvalidCursor` for anything else."""
        try:
            text = _signer().unsign(value).decode("ascii")
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        except (BadSignature, binascii.Error, ValueError):
            raise InvalidCursor(value) from None
        parts = raw.split("|")
        if len(parts) != 5 or parts[0] != "2":
            raise InvalidCursor(value)
        if not all(re.fullmatch(r"\d{1,19}", part) for part in parts[3:]):
            raise InvalidCursor(value)
        last_id, prunes = int(parts[3]), int(parts[4])
        hi = Snapshot.parse(parts[2]) if parts[2] else None
        if last_id > _MAX_ID or prunes > _MAX_ID or (hi is None and last_id):
            raise InvalidCursor(value)
        return cls(Snapshot.parse(parts[1]), hi, last_id, prunes)

    @property
    def at_the_start(self) -> bool:
        """Whether this is where the feed begins (no ``after``)."""
        return self.lo == NOTHING and self.hi is None and self.last_id == 0


def _signer() -> Signer:
    """Cursors are signed with the app's ``SECRET_KEY`` (HMAC-SHA1, itsdangerous), and
    verified with it or any of ``SECRET_KEY_FALLBACKS``: a key can be rotated without
    breaking the cursors clients hold."""
    config = current_app.config
    keys = [*config.get("SECRET_KEY_FALLBACKS", ()), config["SECRET_KEY"]]
    return Signer(keys, salt="registrar.feed-cursor")


_bigints = ARRAY(BigInteger)


def _feed_page(txid: Any) -> Any:
    """The events visible in ``hi`` and not in ``lo`` (given ``txid >= lo``'s xmin,
    which bounds the index's range), after ``last_id``: see the module's doc."""
    return (
        select(_events)
        .where(
            txid >= bindparam("lo_xmin", type_=BigInteger),
            txid < bindparam("hi_xmax", type_=BigInteger),
            txid != all_(bindparam("hi_xip", type_=_bigints)),
            not_(
                and_(
                    txid < bindparam("lo_xmax", type_=BigInteger),
                    txid != all_(bindparam("lo_xip", type_=_bigints)),
                )
            ),
            _events.c.id > bindparam("last_id", type_=BigInteger),
        )
        .order_by(_events.c.id)
        .limit(bindparam("limit", type_=Integer))
    )


def _id_page() -> Any:
    # On SQLite an event's id is its transaction's place in commit order, and nothing
    # is ever in progress: the same page, with ids for transaction ids and no xip.
    id_ = _events.c.id
    return (
        select(_events)
        .where(
            id_ >= bindparam("lo_xmax", type_=BigInteger),
            id_ < bindparam("hi_xmax", type_=BigInteger),
            id_ > bindparam("last_id", type_=BigInteger),
        )
        .order_by(id_)
        .limit(bindparam("limit", type_=Integer))
    )


_FEED_PAGE = Statement(_id_page(), postgresql=_feed_page(_events.c.txid))
# SQLite's snapshot: every id up to the last one committed (ids only ever grow).
_next_id = cast(func.coalesce(func.max(_events.c.id), 0) + 1, String)
_CURRENT_SNAPSHOT = Statement(
    select(_next_id + ":" + _next_id + ":"),
    postgresql=select(text("pg_current_snapshot()::text")),
)


_HORIZON_COLUMNS = select(FeedHorizon.prunes, FeedHorizon.pruned_through)
_HORIZON = Statement(_HORIZON_COLUMNS)


def read_feed(cursor: Cursor, limit: int) -> tuple[list[dict[str, Any]], Cursor]:
    """Up to ``limit`` events after ``cursor`` in feed order, and the cursor after them;
    :class:`CursorExpired` for a cursor the feed was pruned past."""
    horizon = _HORIZON.first() or {"prunes": 0, "pruned_through": 0}
    prunes = cursor.prunes
    if cursor.at_the_start:
        prunes = horizon["prunes"]
    elif prunes < horizon["prunes"]:
        # Pruned since this client last read past every pruned event: it has missed
        # none only if it had read past them all (its batches start where ``lo`` ends).
        if cursor.lo.xmin <= horizon["pruned_through"]:
            raise CursorExpired()
        prunes = horizon["prunes"]
    hi = cursor.hi or Snapshot.parse(_CURRENT_SNAPSHOT.scalar())
    params = {
        "lo_xmin": cursor.lo.xmin,
        "lo_xmax": cursor.lo.xmax,
        "lo_xip": list(cursor.lo.xip),
        "hi_xmax": hi.xmax,
        "hi_xip": list(hi.xip),
        "last_id": cursor.last_id,
        "limit": limit + 1,  # one more tells whether the batch goes on
    }
    rows = _FEED_PAGE.mappings(params)
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, Cursor(cursor.lo, hi, rows[-1]["id"], prunes)
    return rows, Cursor(lo=hi, prunes=prunes)


# -- Pruning ------------------------------------------------------------------------


_entries = WaitlistEntry.__table__
_enrollments = StudentCourse.__table__


def _latest(table: Any, types: Sequence[str]) -> Any:
    """For each row of ``table`` (a pair that exists now), the id of its latest event of
    ``types``: the one that made it."""
    return (
        select(func.max(_events.c.id))
        .join_from(
            _events,
            table,
            and_(
                table.c.student_id == _events.c.student_id,
                table.c.course_id == _events.c.course_id,
            ),
        )
        .where(_events.c.type.in_(types))
        .group_by(_events.c.student_id, _events.c.course_id)
    )


_made_an_enrollment = _latest(_enrollments, ("enrolled", "promoted"))
_made_a_place = _latest(_entries, ("waitlisted",))
_old = _events.c.occurred_at < bindparam("before")
_explains = or_(_events.c.id.in_(_made_an_enrollment), _events.c.id.in_(_made_a_place))
_prunable = and_(_old, not_(_explains))
_last_txid = func.coalesce(func.max(_events.c.txid), 0)
# How many events would go, and the last transaction (on SQLite: event) among them.
_PRUNABLE = Statement(
    select(func.count(), func.coalesce(func.max(_events.c.id), 0)).where(_prunable),
    postgresql=select(func.count(), _last_txid).where(_prunable),
)
_KEPT = Statement(
    select(
        func.count().filter(_events.c.id.in_(_made_an_enrollment)),
        func.count().filter(_events.c.id.in_(_made_a_place)),
    ).where(_old)
)
_PRUNE = Statement(delete(_events).where(_prunable))
_horizon = FeedHorizon.__table__
_horizon_values = {
    "id": 1,
    "prunes": 1,
    "pruned_through": bindparam("through", type_=BigInteger),
    "pruned_before": bindparam("before"),
    "pruned_at": now(),
}


def _horizon_moved(greatest: Any, excluded: Any) -> dict[str, Any]:
    # One more prune, through the later of the two transactions.
    return {
        "prunes": _horizon.c.prunes + 1,
        "pruned_through": greatest(_horizon.c.pruned_through, excluded.pruned_through),
        "pruned_before": excluded.pruned_before,
        "pruned_at": now(),
    }


_pg_horizon = postgresql_insert(_horizon).values(_horizon_values)
_portable_horizon = sqlite_insert(_horizon).values(_horizon_values)
_RECORD_HORIZON = Statement(
    _portable_horizon.on_conflict_do_update(
        index_elements=["id"], set_=_horizon_moved(func.max, _portable_horizon.excluded)
    ),
    postgresql=_pg_horizon.on_conflict_do_update(
        index_elements=["id"], set_=_horizon_moved(func.greatest, _pg_horizon.excluded)
    ),
)


@dataclass(frozen=True)
class Pruned:
    """What a prune deleted, or in a dry run would delete, and what it kept and why."""

    deleted: int
    kept_for_enrollments: int
    kept_for_waitlists: int


def prune(before: datetime, *, dry_run: bool = False) -> Pruned:
    """Delete the events that occurred before ``before``, but those that explain what
    exists now: for every enrollment the event that made it (``enrolled`` or
    ``promoted``), for every place in a line its ``waitlisted``. Replaying the feed from
    the start still rebuilds every enrollment and waitlist; a cursor that had not read
    past the deleted events is answered :class:`CursorExpired` from now on."""
    params = {"before": before}
    with transaction() as block:
        deleted, through = _PRUNABLE.rows(params)[0]
        kept_enrollments, kept_places = _KEPT.rows(params)[0]
        if deleted:
            _PRUNE.run(params)
            _RECORD_HORIZON.run({"through": through, "before": before})
        if dry_run:
            block.rollback()
    return Pruned(deleted, kept_enrollments, kept_places)
