"""Responses serialised straight from rows, for the hot paths.

marshmallow's dump and flask-smorest's response wrapping cost more per request than
the database does for a page of rows. The hot paths build their JSON with orjson
from the rows instead; the schemas stay the contract (the OpenAPI document, and the
decorators' documentation of these views), and ``tests/api/test_fast_responses.py``
checks, path by path, that the fast output equals the schema's dump of the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from flask import Response
from marshmallow import Schema

from src.api.pagination import pagination_headers
from src.database import Page
from src.fields import Timestamp


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
            name for name in self.names if isinstance(schema.dump_fields[name], Timestamp)
        )

    def item(self, row: Sequence[Any]) -> dict[str, Any]:
        """One row as the schema dumps it."""
        item = dict(zip(self.names, row, strict=True))
        for name in self.times:
            if item[name] is not None:
                # format_timestamp without its astimezone: rows come back in UTC.
                item[name] = item[name].isoformat(timespec="milliseconds")
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


def page_response(page: Page, shape: RowShape) -> Response:
    """One page of a list, its items in ``shape``, with its headers."""
    return json_response(shape.items(page.items), 200, pagination_headers(page))
