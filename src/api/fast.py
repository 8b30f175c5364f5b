"""Responses serialised straight from rows, for the hot paths.

marshmallow's dump and flask-smorest's response wrapping cost more per request than
the database does for a page of rows. The hot paths build their JSON with orjson
from the rows instead; the schemas stay the contract (the OpenAPI document, and the
decorators' documentation of these views), and ``tests/api/test_fast_responses.py``
checks, path by path, that the fast output equals the schema's dump of the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Response
from marshmallow import Schema, fields

from src.api.pagination import pagination_headers
from src.exceptions import DomainError
from src.services import Listing


class RowShape:
    """How a schema dumps rows of ``columns``, plus fields every row has the same value of.

    The columns must be the schema's fields in its order, followed by the constants;
    the shape refuses any other layout when it is built, at import.
    """

    def __init__(
        self, schema: Schema, columns: Sequence[str], constants: Mapping[str, Any] | None = None
    ) -> None:
        self.names = tuple(columns)
        self.constants = dict(constants or {})
        dumped = [name for name in schema.dump_fields if name in {*self.names, *self.constants}]
        if dumped != [*self.names, *self.constants]:
            raise ValueError(f"{type(schema).__name__} dumps {dumped}, not {self.names}")
        self.times = tuple(
            name for name in self.names if isinstance(schema.dump_fields[name], fields.DateTime)
        )

    def item(self, row: Sequence[Any]) -> dict[str, Any]:
        """One row as the schema dumps it (orjson writes timestamps as ISO 8601)."""
        item = dict(zip(self.names, row, strict=True))
        for name in self.times:
            value: datetime | None = item[name]
            if value is not None:
                item[name] = value.astimezone(UTC)
        if self.constants:
            item.update(self.constants)
        return item

    def from_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """A row given by column name, as the schema dumps it."""
        return self.item([mapping[name] for name in self.names])

    def items(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        """Rows as the schema dumps a list of them."""
        return [self.item(row) for row in rows]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response, written by orjson (UTF-8, compact, with a final newline as Flask's)."""
    return Response(
        orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def page_response(
    listing: Listing,
    shape: RowShape,
    args: Mapping[str, Any],
    params: Mapping[str, Any],
    missing: Callable[[], DomainError] | None = None,
) -> Response:
    """One page of a list and its headers, from one statement; ``missing`` is the error
    when the list's owner does not exist."""
    limit, offset = args["limit"], args["offset"]
    found = listing.page(params, limit, offset)
    if found is None:
        if missing is None:
            raise RuntimeError("a list without an owner always has a total")
        raise missing()
    total, rows = found
    return json_response(shape.items(rows), 200, pagination_headers(total, limit, offset))
