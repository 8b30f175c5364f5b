"""Marshmallow schemas: they validate requests and dump responses, and the OpenAPI
document is generated from them, so the contract and the code cannot disagree.

Unknown fields raise (marshmallow's default), and ``dump_only`` fields count as
unknown on load, so ids and timestamps in a body are rejected, never ignored.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from src.fields import (
    FREE_TEXT_PATTERN,
    MAX_INT32,
    EmailAddress,
    QueryInteger,
    StrictBoolean,
    StrictInteger,
    Timestamp,
    identifier,
    single_line,
)
from src.models.api_key import ROLES
from src.models.enrollment_event import ACTOR_KINDS, EVENT_TYPES
from src.services.events import Cursor, InvalidCursor

CODE_PATTERN = r"^[A-Za-z0-9-]{1,20}$"


#: Bounds the documents state of what the service writes (responses are dumped, never
#: validated: these validators only document).
PROBLEM_TYPE = validate.Regexp(r"^/problems/[a-z0-9-]{1,50}$")
TEXT = [validate.Length(max=2000), validate.Regexp(FREE_TEXT_PATTERN)]


def problem_type(**kwargs: Any) -> fields.String:
    """A problem type: ``/problems/`` and a slug."""
    return fields.String(validate=[validate.Length(max=60), PROBLEM_TYPE], **kwargs)


def text(**kwargs: Any) -> fields.String:
    """Free text the service writes, up to 2,000 characters."""
    return fields.String(validate=TEXT, **kwargs)


def status_code(**kwargs: Any) -> fields.Integer:
    """An HTTP error status."""
    # Its format is stated here: the component is built before the app maps integers.
    return fields.Integer(
        validate=validate.Range(min=400, max=599), metadata={"format": "int32"}, **kwargs
    )


class ProblemSchema(Schema):
    """An RFC 9457 problem details object, served as ``application/problem+json``."""

    type = problem_type(
        required=True,
        metadata={"description": "URI reference; its last segment is a stable slug."},
    )
    title = fields.String(
        required=True, validate=[validate.Length(max=100), validate.Regexp(FREE_TEXT_PATTERN)]
    )
    status = status_code(required=True)
    detail = text(required=True)
    errors = fields.Dict(
        keys=fields.String(validate=[validate.Length(max=200), validate.Regexp(FREE_TEXT_PATTERN)]),
        values=fields.List(text(), validate=validate.Length(max=20)),
        metadata={
            "description": "Validation errors by field or parameter (422 only).",
            "maxProperties": 200,
        },
    )


class ItemErrorSchema(Schema):
    """Why one item of a list in the request failed."""

    index = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0, max=999),
        metadata={"description": "Position of the item in the request; null for the whole."},
    )
    type = problem_type(required=True, metadata={"description": "The item's problem type."})
    detail = text(required=True)


class ItemizedProblemSchema(Schema):
    """A problem with a list of failing items (``POST /enrollments/batch``)."""

    type = problem_type(required=True)
    title = fields.String(
        required=True, validate=[validate.Length(max=100), validate.Regexp(FREE_TEXT_PATTERN)]
    )
    status = status_code(required=True)
    detail = text(required=True)
    errors = fields.List(
        fields.Nested(ItemErrorSchema), required=True, validate=validate.Length(max=10_000)
    )


def resource_id(**kwargs: Any) -> fields.Integer:
    """An id the service gives (1 to 2**31-1)."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_INT32), **kwargs)


class PaginationSchema(Schema):
    """``limit`` and ``offset`` query parameters shared by every list."""

    # Query strings are text, so these parse "20" (but not "1.5" or "true").
    limit = QueryInteger(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page."},
    )
    offset = QueryInteger(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_INT32),
        metadata={"description": "Items to skip."},
    )


# -- Students -----------------------------------------------------------------


class StudentSchema(Schema):
    """A student, as created and as returned."""

    id = resource_id(dump_only=True)
    first_name = single_line(100, required=True)
    last_name = single_line(100, required=True)
    email = EmailAddress(required=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class StudentQuerySchema(PaginationSchema):
    """Query parameters of ``GET /students``."""

    email = fields.String(
        validate=[validate.Length(min=1, max=254), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"description": "Exact email address, without regard to case."},
    )


# -- Courses ------------------------------------------------------------------


class CourseSchema(Schema):
    """A course, as created and as returned."""

    id = resource_id(dump_only=True)
    code = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=20),
            validate.Regexp(CODE_PATTERN, error="1 to 20 letters, digits or hyphens."),
        ],
        metadata={"example": "CS101"},
    )
    title = single_line(200, required=True)
    description = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(max=2000), validate.Regexp(FREE_TEXT_PATTERN)],
    )
    credits = StrictInteger(load_default=3, validate=validate.Range(min=0, max=30))
    capacity = StrictInteger(
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "Most students the course takes; null means no limit."},
    )
    waitlist_capacity = StrictInteger(
        allow_none=True,
        load_default=0,
        validate=validate.Range(min=0, max=10_000),
        metadata={
            "description": "Most students who may wait for a seat once the course is full: "
            "0 for no waitlist, null for no limit."
        },
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CourseQuerySchema(PaginationSchema):
    """Query parameters of ``GET /courses``."""

    code = fields.String(
        validate=[
            validate.Length(min=1, max=20),
            validate.Regexp(CODE_PATTERN, error="1 to 20 letters, digits or hyphens."),
        ],
        metadata={"description": "Exact course code, without regard to case."},
    )


# -- Enrollments ---------------------------------------------------------------


class EnrollmentRequestSchema(Schema):
    """Body of ``POST /students/<id>/courses``."""

    course_id = identifier(required=True)
    waitlist = StrictBoolean(
        load_default=False,
        metadata={"description": "When the course is full, join its waitlist (202)."},
    )


ENROLLMENT_STATUSES = ("enrolled", "waitlisted")


class _WaitlistFields(Schema):
    """A place in a course's line."""

    waitlist_position = fields.Integer(
        dump_only=True,
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "1 for the next in line (`waitlisted` only)."},
    )
    waitlisted_at = Timestamp(
        dump_only=True, metadata={"description": "When the student joined the line."}
    )


class EnrolledCourseSchema(CourseSchema, _WaitlistFields):
    """A course a student is enrolled in (``enrolled_at``) or waits for
    (``waitlist_position``, ``waitlisted_at``)."""

    enrolled_at = Timestamp(
        dump_only=True, metadata={"description": "When the student enrolled (`enrolled` only)."}
    )
    status = fields.String(dump_only=True, validate=validate.OneOf(ENROLLMENT_STATUSES))

    class Meta:
        # Course fields first, then the enrollment's: the order clients see.
        fields = (
            *CourseSchema._declared_fields,
            "enrolled_at",
            "status",
            "waitlist_position",
            "waitlisted_at",
        )

    @post_dump
    def _drop_the_other_state(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # A row of `?status=all` carries both states' columns, the other one null.
        for name in ("enrolled_at", "waitlist_position", "waitlisted_at"):
            if name in data and data[name] is None:
                del data[name]
        return data


class StudentCoursesQuerySchema(PaginationSchema):
    """Query parameters of ``GET /students/<id>/courses``."""

    status = fields.String(
        load_default="enrolled",
        validate=validate.OneOf(["enrolled", "waitlisted", "all"]),
        metadata={
            "description": "Enrolled courses (default), waitlisted ones, or all: enrolled first."
        },
    )


class EnrolledStudentSchema(StudentSchema):
    """A student on a course's roster, with when they enrolled."""

    enrolled_at = Timestamp(dump_only=True)


class WaitingStudentSchema(StudentSchema, _WaitlistFields):
    """A student in a course's line, with their place."""

    class Meta:
        fields = (*StudentSchema._declared_fields, "waitlist_position", "waitlisted_at")


# -- Batches -------------------------------------------------------------------


class BatchPairSchema(Schema):
    """One pair to enroll."""

    student_id = identifier(required=True)
    course_id = identifier(required=True)


class BatchRequestSchema(Schema):
    """Body of ``POST /enrollments/batch``."""

    enrollments = fields.List(
        fields.Nested(BatchPairSchema),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "1 to 1,000 distinct pairs.", "uniqueItems": True},
    )

    @validates_schema
    def _distinct(self, data: dict[str, Any], **_: Any) -> None:
        first: dict[tuple[int, int], int] = {}
        twice: dict[int, list[str]] = {}
        for index, item in enumerate(data.get("enrollments", [])):
            pair = (item["student_id"], item["course_id"])
            if pair in first:
                twice[index] = [f"The same pair as item {first[pair]}."]
            first.setdefault(pair, index)
        if twice:
            raise ValidationError({"enrollments": twice})


class BatchResultSchema(Schema):
    """One pair of a batch, enrolled."""

    student_id = resource_id(required=True)
    course_id = resource_id(required=True)
    enrolled_at = Timestamp(required=True)
    created = fields.Boolean(
        required=True, metadata={"description": "False when the pair was already enrolled."}
    )


class BatchResponseSchema(Schema):
    """The result of a batch, one item per pair in request order."""

    enrollments = fields.List(
        fields.Nested(BatchResultSchema), required=True, validate=validate.Length(max=1000)
    )


# -- Events ----------------------------------------------------------------------


class ActorSchema(Schema):
    """Who caused a change: a request's API key, an operator's command, or the service."""

    kind = fields.String(required=True, validate=validate.OneOf(ACTOR_KINDS))
    key_prefix = fields.String(
        validate=[validate.Length(max=16), validate.Regexp(r"^[0-9a-f]+$")],
        metadata={"description": "The key's public prefix (kind `api_key` only); never the key."},
    )
    role = fields.String(
        validate=validate.OneOf(ROLES), metadata={"description": "The key's role (`api_key`)."}
    )


def _event_types_description() -> str:
    return "What changed: " + "; ".join(f"`{t}`: {d}" for t, d in EVENT_TYPES.items())


class EventSchema(Schema):
    """One change of one enrollment."""

    id = fields.String(
        required=True,
        validate=[validate.Length(max=20), validate.Regexp(r"^[0-9]+$")],
        metadata={"description": "Opaque; compare for equality only."},
    )
    type = fields.String(
        required=True,
        validate=validate.OneOf(list(EVENT_TYPES)),
        metadata={"description": _event_types_description()},
    )
    student_id = resource_id(required=True)
    course_id = resource_id(required=True)
    occurred_at = Timestamp(
        required=True, metadata={"description": "When the change was made, set by the database."}
    )
    actor = fields.Nested(ActorSchema, required=True)
    reason = fields.String(
        required=True,
        allow_none=True,
        validate=[validate.Length(max=50), validate.Regexp(r"^[a-z-]+$")],
        metadata={
            "description": "Why, when the change was not asked for directly: "
            "`student-deleted`, `seat-freed`, `capacity-raised`; else null."
        },
    )


#: A cursor: base64url and a signature, well within the URL's 4,096 bytes.
CURSOR_PATTERN = r"^[A-Za-z0-9_.-]+$"
CURSOR_BOUNDS = {"maxLength": 3000, "pattern": CURSOR_PATTERN}


class CursorField(fields.String):
    """A feed cursor, as the service handed it out; anything else is invalid."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {**CURSOR_BOUNDS, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Cursor:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(text) > CURSOR_BOUNDS["maxLength"] or not re.match(CURSOR_PATTERN, text):
                raise InvalidCursor(text)
            return Cursor.decode(text)
        except InvalidCursor:
            raise ValidationError("Not a cursor this service handed out.") from None


class FeedQuerySchema(Schema):
    """Query parameters of ``GET /events``."""

    after = CursorField(
        metadata={"description": "The `cursor` of the previous page; omit to start."},
    )
    limit = QueryInteger(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Most events to return."},
    )


class FeedSchema(Schema):
    """A page of the change feed."""

    events = fields.List(
        fields.Nested(EventSchema), required=True, validate=validate.Length(max=1000)
    )
    cursor = fields.String(
        required=True,
        metadata={"description": "Pass as `after` to read on from here.", **CURSOR_BOUNDS},
    )


#: Schema instances used by the views: one each for create, partial update and lists.
student_schema = StudentSchema()
student_update_schema = StudentSchema(partial=True)
course_schema = CourseSchema()
course_update_schema = CourseSchema(partial=True)
