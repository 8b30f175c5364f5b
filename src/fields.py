"""Marshmallow fields and validators whose rules the OpenAPI document states exactly."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

#: Largest value of a PostgreSQL ``integer``: ids, capacities and offsets stay below it.
MAX_INT32 = 2**31 - 1

#: What scripts need of the format characters: the zero-width non-joiner and joiner
#: (Persian, the Indic scripts, emoji sequences), as a regex class.
_JOINERS = r"\u200c\u200d"


#: Every control (Cc), line and paragraph separator (Zl, Zp) and, in the Basic
#: Multilingual Plane, format character (Cf, but the joiners) of Unicode 14, as a regex
#: class: what no name or title may hold (a lone surrogate is malformed JSON already).
#: The format characters beyond it are what scripts and emoji need (Egyptian hieroglyph
#: controls, the tags of flag sequences). Written out, so the contract does not move
#: with Python's Unicode, in escapes that JSON Schema's regexes read as Python's do.
_REFUSED = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891"
    r"\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    r"\ufeff\ufff9-\ufffb"
)
#: One line of visible text: no control, format (but the joiners) or separator
#: characters, and at least one visible character. PostgreSQL rejects NUL outright.
SINGLE_LINE_PATTERN = rf"^[^{_REFUSED}]*[^{_REFUSED}\s{_JOINERS}][^{_REFUSED}]*$"
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


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits without a leading zero (``0`` itself
    aside), as the path's ids. Python's ``int`` would take ``٣``, ``+3``, `` 3`` and
    ``3_0``."""

    _DIGITS = re.compile(r"0|[1-9][0-9]{0,18}")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not self._DIGITS.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryBoolean(fields.Boolean):
    """A boolean in a query string: ``true`` or ``false``, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value not in ("true", "false"):
            raise ValidationError("Must be true or false.")
        return value == "true"


class StrictBoolean(fields.Boolean):
    """A boolean that must be a JSON ``true`` or ``false``: no strings or numbers."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Line(fields.String):
    """One line of visible text (a name, a title): normalised to NFC and stripped of
    surrounding whitespace, then 1 to ``max_length`` characters, none of them a control,
    format or separator character (the joiners excepted, which scripts need)."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(
            validate=[
                validate.Length(min=1, max=max_length),
                validate.Regexp(SINGLE_LINE_PATTERN, error="Must be one line of visible text."),
            ],
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        # The validators then check what is stored: the text in NFC, stripped.
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.max_length:  # as sent, too: the schema's maxLength
            raise ValidationError(f"Longer than {self.max_length} characters.")
        return unicodedata.normalize("NFC", text).strip()


def single_line(max_length: int, **kwargs: Any) -> Line:
    """A line of 1 to ``max_length`` visible characters (:class:`Line`)."""
    return Line(max_length, **kwargs)


class EmailAddress(fields.Email):
    """An email address, normalised to NFC before it is checked: at most 254 characters,
    and a local part of at most 64 (RFC 5321)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=[validate.Length(max=254), _local_part_length], **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            value = unicodedata.normalize("NFC", value)
        return super()._deserialize(value, attr, data, **kwargs)


def _local_part_length(address: str) -> None:
    if len(address.rpartition("@")[0]) > 64:
        raise ValidationError("The part before the @ is over 64 characters.")


def identifier(**kwargs: Any) -> StrictInteger:
    """A positive integer id that fits the database's ``integer`` column."""
    return StrictInteger(validate=validate.Range(min=1, max=MAX_INT32), **kwargs)


def format_timestamp(value: datetime) -> str:
    """A timestamp as the API shows every one: ISO 8601 in UTC, to the millisecond
    (``2026-11-27T09:00:00.123+00:00``), whichever database stored it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


class Timestamp(fields.AwareDateTime):
    """A timestamp, shown by :func:`format_timestamp`; in a request, ISO 8601 with an
    offset, in at most the 29 characters the document states."""

    MAX_LENGTH = 29

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"maxLength": self.MAX_LENGTH, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and len(value) > self.MAX_LENGTH:
            raise ValidationError(f"Longer than {self.MAX_LENGTH} characters.")
        moment = super()._deserialize(value, attr, data, **kwargs)
        # In UTC, as stored: every offset ISO 8601 allows (PostgreSQL takes ±15:59 at most).
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Out of range once in UTC.") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_timestamp(value)
