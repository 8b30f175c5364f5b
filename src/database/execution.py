"""How a statement reaches the database: in a transaction's connection, or alone.

The connection of the current :func:`~src.database.transaction` lives in a context
variable, so a service's statements find it without it being passed down; a
statement outside any block runs alone (:func:`alone`).

On PostgreSQL a statement runs on the DBAPI cursor of its SQLAlchemy connection,
compiled once: SQLAlchemy's per-execution work (the compiled cache's lookup, the
execution context, the result's row processing) cost the hot paths as much as the
database did (``docs/architecture.md`` has the measurement). It is the same pooled
connection and transaction; cursor events still fire (the query-budget tests count
statements with them), errors are SQLAlchemy's, as from ``Connection.execute``, and
a connection found dead is invalidated. Other databases run statements through
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import JSON, Connection, Engine, Executable
from sqlalchemy.exc import DBAPIError

_current: ContextVar[Connection | None] = ContextVar("transaction_connection", default=None)


def current_connection() -> Connection | None:
    """The connection of the transaction under way, or ``None`` outside one."""
    return _current.get()


class Block:
    """A :func:`~src.database.transaction` block, as its ``with`` statement sees it."""

    def __init__(self, root: Any | None) -> None:
        self._root = root

    def rollback(self) -> None:
        """Undo the transaction now: its end then commits nothing (a dry run). Only
        the outermost block may: an inner one is part of a transaction it does not own."""
        if self._root is None:
            raise RuntimeError("only the outermost transaction() block can roll back")
        self._root.rollback()


@contextmanager
def transaction_connection(engine: Engine) -> Iterator[Block]:
    """A transaction on a connection of ``engine``'s pool for the block, or the one
    under way (a block inside another is part of it)."""
    if _current.get() is not None:
        yield Block(None)
        return
    with engine.connect() as connection:  # back to the pool when the block ends
        token = _current.set(connection)
        try:
            with connection.begin() as root:
                yield Block(root)
        finally:
            _current.reset(token)


class Rows:
    """What a statement returned: its column names, rows and changed-row count."""

    __slots__ = ("names", "rowcount", "rows")

    def __init__(self, names: Sequence[str], rows: list[Sequence[Any]], rowcount: int) -> None:
        self.names = names
        self.rows = rows
        self.rowcount = rowcount

    @classmethod
    def from_mappings(cls, mappings: list[Mapping[str, Any]]) -> Rows:
        """Rows given as mappings (by a portable form of several statements)."""
        names = list(mappings[0]) if mappings else []
        return cls(names, [tuple(m.values()) for m in mappings], len(mappings))

    def mappings(self) -> list[dict[str, Any]]:
        """The rows as dicts by column name."""
        names = self.names
        return [dict(zip(names, row, strict=True)) for row in self.rows]


def run(
    connection: Connection, form: Executable, params: Mapping[str, Any], cache: CompileCache
) -> Rows:
    """Run ``form`` on ``connection``, in its transaction."""
    compiled = cache.get(form, connection.dialect)
    if compiled is None:
        return _through_sqlalchemy(connection, form, params)
    dbapi_connection = connection.connection.dbapi_connection
    return compiled.execute(
        connection.dispatch, connection, dbapi_connection, params, connection.invalidate
    )


def alone(
    engine: Engine,
    form: Executable,
    params: Mapping[str, Any],
    cache: CompileCache,
    *,
    writes: bool,
) -> Rows:
    """Run ``form`` as a transaction of its own, in one round trip.

    On PostgreSQL the statement runs in autocommit on a connection of the pool: it is
    its own transaction and sees one snapshot, without ``BEGIN`` and ``COMMIT`` round
    trips around it; behind PgBouncer the statement timeout rides in the same message
    (``SET LOCAL`` in its implicit transaction). A read that meets a connection the
    server closed a moment before the pool handed it out is sent again, once, on
    another. Elsewhere (SQLite, which has no round trips to save, and statements
    off the fast path) it runs in a transaction like any other, committed if the
    statement writes.
    """
    compiled = cache.get(form, engine.dialect)
    if compiled is None:
        with engine.connect() as connection:
            rows = _through_sqlalchemy(connection, form, params)
            if writes:
                connection.commit()
            return rows
    prefix = current_app.extensions.get("registrar.statement_timeout_sql")
    try:
        return compiled.execute_alone(engine, params, prefix)
    except DBAPIError as error:
        if writes or not error.connection_invalidated:
            raise
        return compiled.execute_alone(engine, params, prefix)


def _through_sqlalchemy(
    connection: Connection, form: Executable, params: Mapping[str, Any]
) -> Rows:
    result = connection.execute(form, dict(params))
    if not result.returns_rows:
        return Rows([], [], result.rowcount)
    names = list(result.keys())
    rows = [tuple(row) for row in result]
    return Rows(names, rows, len(rows))


class CompileCache:
    """A statement's compiled form, kept with the statement: compiled once per engine."""

    __slots__ = ("_compiled",)

    def __init__(self) -> None:
        self._compiled: _Compiled | None = None

    def get(self, form: Executable, dialect: Any) -> _Compiled | None:
        """``form`` compiled for ``dialect``; ``None`` off the fast path: on other
        databases than PostgreSQL, and for statements whose SQL depends on their
        values (an ``IN`` list of bound values, which SQLAlchemy expands) and those that
        bind JSON."""
        if dialect.name != "postgresql":
            return None
        compiled = self._compiled
        if compiled is None or compiled.dialect is not dialect or compiled.form is not form:
            compiled = self._compiled = _Compiled(form, dialect)
        return compiled if compiled.fast else None


class _Compiled:
    """A statement compiled for one dialect, run on a DBAPI cursor."""

    def __init__(self, form: Executable, dialect: Any) -> None:
        compiled = form.compile(dialect=dialect)
        self.form = form
        self.dialect = dialect
        # Off the fast path: SQL that depends on the values, and values that only
        # SQLAlchemy's bind processing turns into what the driver takes (JSON).
        self.fast = not compiled.post_compile_params and not any(
            isinstance(bind.type, JSON) for bind in compiled.binds.values()
        )
        self.sql = compiled.string
        self.defaults = dict(compiled.params)
        #: Positions of the timestamp columns, which psycopg2 gives in the connection's
        #: time zone and the models in UTC.
        self.times = [
            position
            for position, column in enumerate(getattr(form, "selected_columns", ()))
            if _is_timestamp(column.type)
        ]

    def execute(
        self,
        dispatch: Any,
        connection: Connection | None,
        dbapi_connection: Any,
        params: Mapping[str, Any],
        invalidate: Callable[[BaseException], None],
        prefix: str | None = None,
    ) -> Rows:
        """Run the statement on ``dbapi_connection``, firing ``dispatch``'s cursor event."""
        values = {**self.defaults, **params}
        sql = self.sql if prefix is None else f"{prefix}; {self.sql}"
        cursor = dbapi_connection.cursor()
        dispatch.before_cursor_execute(connection, cursor, sql, values, None, False)
        try:
            cursor.execute(sql, values)
            if cursor.description is None:
                return Rows([], [], cursor.rowcount)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
            if self.times and rows:
                rows = [self._in_utc(row) for row in rows]
            return Rows(names, rows, cursor.rowcount)
        except self.dialect.loaded_dbapi.Error as error:
            raise _translated(
                self.dialect, dbapi_connection, cursor, sql, values, error, invalidate
            ) from error
        finally:
            if not cursor.closed:
                cursor.close()

    def _in_utc(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for position in self.times:
            if values[position] is not None:
                values[position] = values[position].astimezone(UTC)
        return tuple(values)

    def execute_alone(self, engine: Engine, params: Mapping[str, Any], prefix: str | None) -> Rows:
        """Run the statement alone, in autocommit, on a connection of the pool."""
        with engine.connect() as connection:  # errors in connecting are SQLAlchemy's
            dbapi_connection = connection.connection.dbapi_connection
            dbapi_connection.autocommit = True
            try:
                return self.execute(
                    connection.dispatch,
                    connection,
                    dbapi_connection,
                    params,
                    connection.invalidate,
                    prefix,
                )
            finally:
                if not dbapi_connection.closed:
                    dbapi_connection.autocommit = False


def _is_timestamp(type_: Any) -> bool:
    try:
        return issubclass(type_.python_type, datetime)
    except NotImplementedError:  # a type without a Python type (NullType)
        return False


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
