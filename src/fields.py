"""Marshmallow fields and validators whose rules the OpenAPI document states exactly."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

#: Largest value of a PostgreSQL ``integer``: ids, capacities and offsets stay below it.
MAX_INT32 = 2**31 - 1

#: One line of printable text with at least one visible character: no control
#: characters (PostgreSQL rejects NUL outright) and not blank.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
#: Free text: anything but NUL, which PostgreSQL cannot store.
FREE_TEXT_PATTERN = r"^[^\x00]*$"


class StrictInteger(fields.Integer):
    """An integer that must be a JSON integer: no strings, floats or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        # bool is an int in Python, but true is not an integer in JSON.
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A boolean that must be a JSON ``true`` or ``false``: no strings or numbers."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def single_line(max_length: int, **kwargs: Any) -> fields.String:
    """A required-by-default line of text between 1 and ``max_length`` characters."""
    return fields.String(
        validate=[
            validate.Length(min=1, max=max_length),
            validate.Regexp(SINGLE_LINE_PATTERN, error="Must be one line of visible text."),
        ],
        **kwargs,
    )


def identifier(**kwargs: Any) -> StrictInteger:
    """A positive integer id that fits the database's ``integer`` column."""
    return StrictInteger(validate=validate.Range(min=1, max=MAX_INT32), **kwargs)
