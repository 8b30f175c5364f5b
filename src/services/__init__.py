"""Domain operations: the rules that belong to the data, below the HTTP layer.

Functions here load, change and flush models and raise ``src.exceptions`` errors;
the views commit.

The hot paths (lists, a student's courses, enrolling, unenrolling, key lookup) run
Core statements built once at import, with bound parameters, on the session's own
connection and transaction: building a statement and computing its cache key, then
loading ORM entities, cost more per request than the database does. They return
rows (mappings), which the schemas dump like objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    CursorResult,
    Executable,
    Integer,
    Select,
    Table,
    bindparam,
    func,
    select,
)

from src.extensions import db

#: Checks a resource's current state before a change (an ``If-Match``); raises to
#: refuse the change.
Precondition = Callable[[Any], None]


def execute(
    statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
) -> CursorResult[Any]:
    """Run a Core statement in the session's transaction (begun if need be); a list of
    parameter sets runs it once for each (executemany)."""
    return db.session.connection().execute(statement, params)


class PagedQuery:
    """A list's statements, built once: one page of it, and its length.

    ``query`` must be ordered and take its other values as bound parameters, so
    that each request only binds values instead of building and hashing statements.
    """

    def __init__(self, query: Select[Any]) -> None:
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
    """

    def __init__(
        self,
        table: Table,
        column: str,
        *,
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

    def query(self, args: Mapping[str, Any]) -> tuple[PagedQuery, dict[str, Any]]:
        """The statements that answer these request arguments, and their parameters."""
        if self.column in args:
            value = args[self.column]
            return self._matching, {self.column: self.key(value) if self.key else value}
        return self._all, {}
