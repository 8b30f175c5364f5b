"""The data layer: the one way the service runs SQL.

Services build their statements once, at import, as :class:`Statement` objects next
to the function that runs them, and run them with bound parameters::

    _COURSE = Statement(select(courses).where(courses.c.id == bindparam("course_id")))

    def get_course(course_id: int) -> Mapping[str, Any]:
        course = _COURSE.first({"course_id": course_id})
        ...

**Transactions.** A statement run outside a :func:`transaction` block is a
transaction of its own (on PostgreSQL in autocommit: one round trip, one snapshot).
Inside a block, every statement is part of the block, which runs on one connection
of the engine's pool, commits when it ends and rolls back if it raises; a block
inside another is part of it, and :func:`savepoint` marks a part that can be undone
alone. That is the whole transaction model: services that write open a block; reads
of one statement need none.

**Two databases.** Where PostgreSQL and SQLite need different SQL, the statement
carries both forms (``Statement(portable, postgresql=...)``): services never ask
which database they run on. A portable form may be a function of the parameters that
runs several statements (SQLite has no data-modifying ``WITH``); it always runs in a
transaction.

**The ORM session** is Flask-SQLAlchemy's, for tests and shells; the service never
uses it. Inside a :func:`transaction` it raises :class:`SessionMisuse`: it runs on
another connection, in another transaction, so it would not see the block's writes,
and its own would be committed apart from them, or never.

How a statement reaches the database, and the fast path that skips SQLAlchemy's
per-execution work on PostgreSQL, are in :mod:`src.database.execution`; the engine's
settings and connection checks in :mod:`src.database.connections`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Executable, Integer, Select, bindparam, event, func, select, true
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import CTE

from src.database import connections, execution
from src.database.execution import Block, current_connection, transaction_connection
from src.models.base import Base

__all__ = [
    "Block",
    "Listing",
    "Page",
    "SessionMisuse",
    "Statement",
    "current_connection",
    "db",
    "init_app",
    "like_pattern",
    "now",
    "order_keys",
    "savepoint",
    "transaction",
]

#: Flask-SQLAlchemy: it makes each app's engine from the app's configuration, and gives
#: tests an ORM session. ``expire_on_commit=False``: tests read what they committed.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

#: Parameters of a statement: its bound parameters by name.
Params = Mapping[str, Any]
#: A portable form that runs several statements: parameters in, rows out.
Steps = Callable[[Params], list[Mapping[str, Any]]]


def now() -> Any:
    """The database's clock, for a timestamp a statement writes: on PostgreSQL the
    transaction's start, to the microsecond; on SQLite, whose ``CURRENT_TIMESTAMP`` has
    whole seconds, the statement's, to the millisecond (``connections``). The API shows
    both to the millisecond."""
    return func.now()


@contextmanager
def transaction() -> Iterator[Block]:
    """Run the block as one transaction on one connection: committed when the block
    ends, rolled back if it raises (or if it calls ``rollback()`` on what the ``with``
    gives it). A block inside another is part of it."""
    with transaction_connection(db.engine) as block:
        yield block


@contextmanager
def savepoint() -> Iterator[None]:
    """Inside a :func:`transaction`, a part of it that is undone alone if it raises
    (its locks released with it); the exception goes on."""
    connection = current_connection()
    if connection is None:
        raise RuntimeError("savepoint() needs a transaction() around it")
    with connection.begin_nested():
        yield


def _writes(form: Any) -> bool:
    """Whether a statement changes data: DML, or a SELECT with a data-modifying WITH."""
    if isinstance(form, UpdateBase):
        return True
    return any(
        isinstance(element, CTE) and isinstance(element.element, UpdateBase)
        for element in visitors.iterate(form)
    )


class Statement:
    """A statement built once, run with bound parameters: in the current
    :func:`transaction`, else as a transaction of its own.

    ``portable`` runs on every database; ``postgresql``, when given, replaces it on
    PostgreSQL. Each is a Core statement, or a portable function of the parameters
    (:data:`Steps`) that runs other statements and returns rows as mappings.
    Timestamps come back in UTC, as the models' ``UTCDateTime`` gives them.
    """

    def __init__(self, portable: Executable | Steps, *, postgresql: Executable | None = None):
        self.portable = portable
        self.postgresql = postgresql
        forms = [form for form in (portable, postgresql) if form is not None]
        #: Whether the statement can change data: run alone, it commits; only reads
        #: are ever sent twice (once more on a connection found dead).
        self.writes = any(not isinstance(form, Executable) or _writes(form) for form in forms)
        self._compiled = execution.CompileCache()

    def _form(self, dialect_name: str) -> Executable | Steps:
        if self.postgresql is not None and dialect_name == "postgresql":
            return self.postgresql
        return self.portable

    def _run(self, params: Params | None) -> execution.Rows:
        params = params or {}
        connection = current_connection()
        engine = db.engine if connection is None else connection.engine
        form = self._form(engine.dialect.name)
        if not isinstance(form, Executable):
            with transaction():
                return execution.Rows.from_mappings(form(params))
        if connection is None:
            return execution.alone(engine, form, params, self._compiled, writes=self.writes)
        return execution.run(connection, form, params, self._compiled)

    def rows(self, params: Params | None = None) -> list[Sequence[Any]]:
        """Run the statement; return its rows as tuples."""
        return self._run(params).rows

    def mappings(self, params: Params | None = None) -> list[dict[str, Any]]:
        """Run the statement; return its rows as dicts by column name."""
        return self._run(params).mappings()

    def first(self, params: Params | None = None) -> dict[str, Any] | None:
        """Run the statement; return its first row as a dict, or ``None``."""
        found = self._run(params)
        return found.mappings()[0] if found.rows else None

    def scalar(self, params: Params | None = None) -> Any:
        """Run the statement; return the first column of its first row, or ``None``."""
        found = self._run(params).rows
        return found[0][0] if found else None

    def run(self, params: Params | None = None) -> int:
        """Run the statement; return how many rows it changed."""
        return self._run(params).rowcount

    def run_many(self, param_sets: Sequence[Params]) -> list[Sequence[Any]]:
        """Run the statement once for each set of parameters, in batches of many rows
        per statement (SQLAlchemy's "insertmanyvalues"), in a transaction; return the
        rows it returns, in the order of ``param_sets`` where it says so."""
        with transaction():
            connection = current_connection()
            assert connection is not None  # noqa: S101 - transaction() just made it
            form = self._form(connection.dialect.name)
            result = connection.execute(form, list(param_sets))  # type: ignore[arg-type]
            return [tuple(row) for row in result] if result.returns_rows else []


class Listing:
    """One page of a list and the list's length, in one statement.

    ``query`` is the whole list, ordered, taking its other values as bound
    parameters; ``total`` is its length, and returns no row (or null) when the list's
    owner (the student of a student's courses) does not exist. ``columns`` are those each
    item shows and ``order`` the columns the page is ordered by, as in the query (a
    leading ``-`` for descending).
    """

    def __init__(
        self,
        query: Select[Any],
        total: Select[Any],
        columns: Sequence[str],
        order: Sequence[str] = ("id",),
    ) -> None:
        self.query = query
        self.columns = tuple(columns)
        picked = query.with_only_columns(*(query.selected_columns[name] for name in columns))
        page = (
            picked.limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer))
            .subquery("page")
        )
        counted = total.subquery("counted")
        # Each row is the total, then an item; an empty page is one row of the total
        # and nulls; no row at all (or a null total), an owner that does not exist.
        self._statement = Statement(
            select(*counted.c, *page.c)
            .select_from(counted.outerjoin(page, true()))
            .order_by(*(_ordered(page.c, name) for name in order))
        )

    def page(self, params: Params, limit: int, offset: int) -> Page | None:
        """The page of ``limit`` items from ``offset``, or ``None`` if the list's owner
        is missing."""
        rows = self._statement.rows({**params, "limit": limit, "offset": offset})
        if not rows or rows[0][0] is None:
            return None
        items = [row[1:] for row in rows if row[1] is not None]
        return Page(rows[0][0], limit, offset, self.columns, items)


def _ordered(columns: Any, name: str) -> Any:
    return columns[name[1:]].desc() if name.startswith("-") else columns[name]


def order_keys(columns: Any, order: Sequence[str]) -> list[Any]:
    """``ORDER BY`` keys of ``columns`` (a table's ``.c``) for a :class:`Listing`'s
    ``order``: column names, a leading ``-`` for descending."""
    return [_ordered(columns, name) for name in order]


def like_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escaped by ``\\``) matching ``text`` anywhere, taken
    literally: its ``%``, ``_`` and ``\\`` match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Page:
    """One page of a list: its items (tuples of ``columns``), and where it lies."""

    def __init__(
        self,
        total: int,
        limit: int,
        offset: int,
        columns: Sequence[str],
        items: list[Sequence[Any]],
    ) -> None:
        self.total = total
        self.limit = limit
        self.offset = offset
        self.columns = columns
        self.items = items

    def mappings(self) -> list[dict[str, Any]]:
        """The items as dicts by column name."""
        return [dict(zip(self.columns, item, strict=True)) for item in self.items]


class SessionMisuse(RuntimeError):
    """The ORM session was used inside a transaction() block, which it cannot see."""


def _refuse_session_in_transactions(_state: ORMExecuteState | Session, *_: Any) -> None:
    if current_connection() is not None:
        raise SessionMisuse(
            "The ORM session cannot see this transaction() block: run the block's SQL "
            "through src.database (Statement), as the services do."
        )


event.listen(Session, "do_orm_execute", _refuse_session_in_transactions)
event.listen(Session, "before_flush", _refuse_session_in_transactions)


def init_app(app: Flask) -> None:
    """Bind the data layer to ``app``: Flask-SQLAlchemy's engine, with the connection
    checks and per-transaction settings of :mod:`src.database.connections`."""
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", connections.engine_options(app.config))
    db.init_app(app)
    with app.app_context():
        connections.watch(db.engine, app.config, app.extensions)
