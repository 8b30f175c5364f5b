"""Domain operations: the rules that belong to the data, below the HTTP layer.

Functions here load, change and flush models and raise ``src.exceptions`` errors;
the views commit, or run them in a :func:`transaction`.

The hot paths (lists, a student's courses, enrolling, unenrolling, key lookup) run
Core statements built once at import, with bound parameters, on the session's own
connection and transaction: building a statement and computing its cache key, then
loading ORM entities, cost more per request than the database does. They return
rows, which the API serialises straight to JSON (``src/api/fast.py``) or the schemas
dump like objects. On PostgreSQL the hottest run compiled once on the DBAPI cursor
(:class:`Prebuilt`), and a list's page and total are one statement (:class:`Listing`).
The hot writes run in a :func:`transaction` of their own, outside the ORM session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import (
    Connection,
    CursorResult,
    Executable,
    Integer,
    Select,
    Table,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.exc import DBAPIError

from src.extensions import db

#: The columns of a course and of a student that responses show, in the schemas' order.
COURSE_COLUMNS = (
    "id", "code", "title", "description", "credits", "capacity", "waitlist_capacity",
    "created_at", "updated_at",
)  # fmt: skip
STUDENT_COLUMNS = ("id", "first_name", "last_name", "email", "created_at", "updated_at")

#: Checks a resource's current state before a change (an ``If-Match``); raises to
#: refuse the change.
Precondition = Callable[[Any], None]


_own_connection: ContextVar[Connection | None] = ContextVar("own_connection", default=None)


def connection() -> Connection:
    """The connection statements run on: the one :func:`transaction` holds, else the
    ORM session's (its transaction begun if need be)."""
    own = _own_connection.get()
    return db.session.connection() if own is None else own


@contextmanager
def transaction() -> Iterator[None]:
    """Run the block as one transaction, committed when it ends, rolled back if it raises.

    On PostgreSQL the block runs on a Core connection of its own from the engine's pool,
    not in the ORM session: for a request whose statements are all Core (enrolling,
    unenrolling) the session's bookkeeping (its transaction object, the flush before
    commit, the close at teardown) was about a tenth of the request's Python and bought
    nothing. So the block must change data only through :func:`execute`,
    :class:`Prebuilt` and ``events.Recorded``: an ORM change would go to the session's
    connection, in another transaction. On SQLite, which has one writer at a time, a
    second connection would wait for the session's lock: there the block runs in the
    session, committed the same way. A block inside another is part of it.
    """
    if _own_connection.get() is not None:
        yield
        return
    if db.engine.dialect.name != "postgresql":
        token = _own_connection.set(db.session.connection())
        try:
            yield
        except BaseException:
            db.session.rollback()
            raise
        finally:
            _own_connection.reset(token)
        db.session.commit()
        return
    with db.engine.connect() as own:  # back to the pool when the block ends
        token = _own_connection.set(own)
        try:
            with own.begin():
                yield
        finally:
            _own_connection.reset(token)


def execute(
    statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
) -> CursorResult[Any]:
    """Run a Core statement on :func:`connection` (in its transaction, begun if need be);
    a list of parameter sets runs it once for each (executemany)."""
    return connection().execute(statement, params)


class PagedQuery:
    """A list's statements, built once: one page of it, and its length.

    ``query`` must be ordered and take its other values as bound parameters, so
    that each request only binds values instead of building and hashing statements.
    """

    def __init__(self, query: Select[Any]) -> None:
        self.query = query
        self.page = query.limit(bindparam("limit", type_=Integer)).offset(
            bindparam("offset", type_=Integer)
        )
        self.count = select(func.count()).select_from(query.order_by(None).subquery())


class ResourceList:
    """A table's rows in id order: all of them, or those whose ``column`` equals a value
    without regard to case (``GET /students?email=``, ``GET /courses?code=``).

    With ``key_column`` and ``key``, the comparison is ``key_column = key(value)``, a
    normalised column the application fills (students' ``email_key``); otherwise it is
    ``lower(column) = lower(value)``, which suits ASCII values (course codes).
    ``columns`` are those a list shows, for :meth:`listing`.
    """

    def __init__(
        self,
        table: Table,
        column: str,
        *,
        columns: Sequence[str],
        key_column: str | None = None,
        key: Callable[[str], str] | None = None,
    ) -> None:
        rows = select(*table.c).order_by(table.c.id)
        self.column = column
        self.key = key
        self._all = PagedQuery(rows)
        if key_column is not None:
            matching = table.c[key_column] == bindparam(column)
        else:
            matching = func.lower(table.c[column]) == func.lower(bindparam(column))
        self._matching = PagedQuery(rows.where(matching))
        self._listings = {
            paged: Listing(paged.query, paged.count, columns, order=("id",))
            for paged in (self._all, self._matching)
        }

    def query(self, args: Mapping[str, Any]) -> tuple[PagedQuery, dict[str, Any]]:
        """The statements that answer these request arguments, and their parameters."""
        if self.column in args:
            value = args[self.column]
            return self._matching, {self.column: self.key(value) if self.key else value}
        return self._all, {}

    def listing(self, args: Mapping[str, Any]) -> tuple[Listing, dict[str, Any]]:
        """:meth:`query` as one prebuilt statement for the page and the total."""
        paged, params = self.query(args)
        return self._listings[paged], params


class Prebuilt:
    """A Core statement compiled once, run on the DBAPI cursor of :func:`connection`.

    On PostgreSQL this skips SQLAlchemy's per-execution work (the compiled cache's
    lookup, the execution context, the result's row processing), which on the hot paths
    cost as much as the database; it is still that connection and its transaction,
    from the engine's pool. Rows come back as psycopg2 gives them: tuples,
    timestamps in the session's time zone. Errors are SQLAlchemy's, as from
    :func:`execute`, and a connection found dead is invalidated. Other databases run
    the statement through SQLAlchemy.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple[Any, str, dict[str, Any]] | None = None
        # Column names once, for mappings(): the statement never changes.
        self._names = [column.key for column in getattr(statement, "selected_columns", ())]

    def _sql(self, dialect: Any) -> tuple[str, dict[str, Any]]:
        if self._compiled is None or self._compiled[0] is not dialect:
            compiled = self.statement.compile(dialect=dialect)
            self._compiled = (dialect, compiled.string, dict(compiled.params))
        return self._compiled[1], self._compiled[2]

    def rows(self, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with ``params`` on :func:`connection`; return all its rows."""
        current = connection()
        dialect = current.dialect
        if dialect.name != "postgresql":
            return [tuple(row) for row in current.execute(self.statement, params)]
        sql, defaults = self._sql(dialect)
        values = {**defaults, **params}
        dbapi_connection = current.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        # Listeners of SQLAlchemy's cursor events (the query-budget tests count
        # statements with them) see these statements too.
        current.dispatch.before_cursor_execute(current, cursor, sql, values, None, False)
        try:
            cursor.execute(sql, values)
            return cursor.fetchall() if cursor.description is not None else []
        except dialect.loaded_dbapi.Error as error:
            raise _translated(
                dialect, dbapi_connection, cursor, sql, values, error, current.invalidate
            ) from error
        finally:
            if not cursor.closed:
                cursor.close()

    def read(self, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """:meth:`rows` for a statement that only reads, as one round trip.

        On PostgreSQL, when the session has no transaction under way, the statement runs
        alone in autocommit on a connection of the engine's pool: it is its own
        transaction and sees one snapshot, without the ``BEGIN`` and ``ROLLBACK`` round
        trips around it. Behind PgBouncer the statement timeout rides in the same
        message (``SET LOCAL`` in its implicit transaction). Otherwise (inside a
        :func:`transaction` too), as :meth:`rows`.
        """
        engine = db.engine
        if (
            engine.dialect.name != "postgresql"
            or _own_connection.get() is not None
            or db.session().in_transaction()
        ):
            return self.rows(params)
        sql, defaults = self._sql(engine.dialect)
        timeout = current_app.extensions.get("registrar.statement_timeout_sql")
        if timeout:
            sql = f"{timeout}; {sql}"
        values = {**defaults, **params}
        try:
            return self._read_alone(engine, sql, values)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # A connection the server closed a moment before it was handed out (the
            # check at checkout saw nothing yet): a read is safe to send again, once.
            return self._read_alone(engine, sql, values)

    def _read_alone(self, engine: Any, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        pooled = engine.raw_connection()
        dbapi_connection = pooled.dbapi_connection
        cursor = None
        try:
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            engine.dispatch.before_cursor_execute(None, cursor, sql, values, None, False)
            cursor.execute(sql, values)
            return cursor.fetchall()
        except engine.dialect.loaded_dbapi.Error as error:
            raise _translated(
                engine.dialect, dbapi_connection, cursor, sql, values, error, pooled.invalidate
            ) from error
        finally:
            if cursor is not None and not cursor.closed:
                cursor.close()
            if not dbapi_connection.closed:
                dbapi_connection.autocommit = False
            pooled.close()  # back to the pool

    def mappings(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run the statement; return its rows as dicts by column name, timestamps in UTC
        (as the models' ``UTCDateTime`` gives them)."""
        return [
            {
                name: value.astimezone(UTC) if isinstance(value, datetime) else value
                for name, value in zip(self._names, row, strict=True)
            }
            for row in self.rows(params)
        ]


def _translated(
    dialect: Any,
    dbapi_connection: Any,
    cursor: Any,
    sql: str,
    values: Any,
    error: Exception,
    invalidate: Callable[[BaseException], None],
) -> DBAPIError:
    """A DBAPI error as SQLAlchemy raises it from an execution of its own (so the error
    handlers map it alike), after invalidating the connection if the error says it died."""
    dead = dialect.is_disconnect(error, dbapi_connection, cursor)
    if dead:
        invalidate(error)
    return DBAPIError.instance(
        sql, values, error, dialect.loaded_dbapi.Error, connection_invalidated=dead, dialect=dialect
    )


class Listing:
    """A list's page and its total in one statement, prebuilt.

    Each row is the total followed by ``columns`` of a row of the page; an empty page
    is one row with the total and nulls. No row at all means ``total`` found none: the
    list's owner (the student of a student's courses) does not exist.
    """

    def __init__(
        self, query: Select[Any], total: Select[Any], columns: Sequence[str], order: Sequence[str]
    ) -> None:
        picked = query.with_only_columns(*(query.selected_columns[name] for name in columns))
        page = (
            picked.limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer))
            .subquery("page")
        )
        counted = total.subquery("counted")
        self.prebuilt = Prebuilt(
            select(*counted.c, *page.c)
            .select_from(counted.outerjoin(page, true()))
            .order_by(*(page.c[name] for name in order))
        )

    def page(
        self, params: Mapping[str, Any], limit: int, offset: int
    ) -> tuple[int, list[tuple[Any, ...]]] | None:
        """The total and the page's rows, or ``None`` if the list's owner is missing."""
        rows = self.prebuilt.read({**params, "limit": limit, "offset": offset})
        if not rows:
            return None
        return rows[0][0], [row[1:] for row in rows if row[1] is not None]
