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
    QueryBoolean,
    QueryInteger,
    StrictBoolean,
    StrictInteger,
    Timestamp,
    identifier,
    single_line,
)
from src.models.api_key import ROLES
from src.models.enrollment_event import ACTOR_KINDS, EVENT_TYPES
from src.models.hold import HOLD_BLOCKS, HOLD_KINDS
from src.services import courses, students
from src.services.events import Cursor, InvalidCursor
from src.services.rules import OVERRIDABLE

CODE_PATTERN = r"^[A-Za-z0-9-]{1,20}$"


def code(**kwargs: Any) -> fields.String:
    """A course or term code: 1 to 20 letters, digits or hyphens."""
    return fields.String(
        validate=[
            validate.Length(min=1, max=20),
            validate.Regexp(CODE_PATTERN, error="1 to 20 letters, digits or hyphens."),
        ],
        **kwargs,
    )


def sort(choices: tuple[str, ...]) -> fields.String:
    """A list's ``sort`` parameter: a field, with a leading ``-`` for descending."""
    return fields.String(
        validate=validate.OneOf(choices),
        metadata={"description": "Order by this field (`-`: descending), then by id."},
    )


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


def _distinct_items(items: list[str]) -> None:
    if len(set(items)) != len(items):
        raise ValidationError("An item is listed twice.")


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


def search_text(what: str) -> fields.String:
    """A ``q`` parameter: text to find, anywhere in ``what``, without regard to case."""
    return fields.String(
        validate=[validate.Length(min=1, max=100), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"description": f"Text found anywhere in {what}, without regard to case."},
    )


class StudentQuerySchema(PaginationSchema):
    """Query parameters of ``GET /students``."""

    email = fields.String(
        validate=[validate.Length(min=1, max=254), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"description": "Exact email address, without regard to case."},
    )
    q = search_text("the first name, last name or email")
    sort = sort(students.SORTS)


# -- Instructors ----------------------------------------------------------------


class InstructorSchema(StudentSchema):
    """An instructor, as created and as returned: the same fields as a student's, the
    email unique among instructors."""


INSTRUCTOR_ROLES = ("primary", "secondary")


class AssignmentSchema(Schema):
    """Body of ``PUT /courses/<id>/instructors/<instructor_id>``."""

    role = fields.String(
        required=True,
        validate=validate.OneOf(INSTRUCTOR_ROLES),
        metadata={"description": "At most one primary instructor per course."},
    )


class CourseInstructorSchema(InstructorSchema):
    """An instructor of a course, with their role in it."""

    role = fields.String(dump_only=True, validate=validate.OneOf(INSTRUCTOR_ROLES))


class InstructorCoursesQuerySchema(PaginationSchema):
    """Query parameters of ``GET /instructors/<id>/courses``."""

    term_id = QueryInteger(
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "Only the courses of this term."},
    )


# -- Terms --------------------------------------------------------------------


def day(metadata: dict[str, Any], **kwargs: Any) -> fields.Date:
    """A calendar day, ``YYYY-MM-DD``."""
    return fields.Date(metadata={"maxLength": 10, **metadata}, **kwargs)


def instant(**kwargs: Any) -> Timestamp:
    """A registration instant: an ISO 8601 timestamp with an offset, or null (no bound)."""
    return Timestamp(allow_none=True, load_default=None, **kwargs)


class TermSchema(Schema):
    """A term (a semester, a quarter), as created and as returned."""

    id = resource_id(dump_only=True)
    code = code(required=True, metadata={"example": "2027-SP"})
    name = single_line(100, required=True)
    starts_on = day(required=True, metadata={"description": "The first day."})
    ends_on = day(
        required=True, metadata={"description": "The last day (included); not before starts_on."}
    )
    registration_opens_at = instant(
        metadata={"description": "When students may start to register; null: no bound."}
    )
    add_deadline = instant(
        metadata={"description": "Last moment to add a course; not before registration opens."}
    )
    drop_deadline = instant(
        metadata={"description": "Last moment to drop a course; not before the add deadline."}
    )
    withdraw_deadline = instant(
        metadata={"description": "Last moment to withdraw; not before the drop deadline."}
    )
    max_credits = StrictInteger(
        allow_none=True,
        load_default=None,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Most credits a student may take in the term; null: no cap."},
    )
    is_default = fields.Boolean(
        dump_only=True,
        metadata={"description": "Whether courses created without a term join this one."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class TermUpdateSchema(TermSchema):
    """Changes to a term: any of its fields, and ``is_default: true`` to make it the
    default term in place of the one that was."""

    is_default = StrictBoolean(
        validate=validate.Equal(True, error="Only true: make another term the default instead."),
        metadata={"description": "true makes this the default term (only true is accepted)."},
    )


# -- Courses ------------------------------------------------------------------


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def clock_time(example: str, **kwargs: Any) -> fields.String:
    """A time of day, ``HH:MM`` on a 24-hour clock."""
    return fields.String(
        validate=validate.Regexp(TIME_PATTERN, error="HH:MM, 00:00 to 23:59."),
        metadata={"example": example, "maxLength": 5},
        **kwargs,
    )


class MeetingSchema(Schema):
    """When and where a course meets, every week of its term."""

    days = fields.List(
        fields.String(validate=validate.OneOf(WEEKDAYS)),
        required=True,
        validate=validate.Length(min=1, max=7),
        metadata={"uniqueItems": True, "example": ["MO", "WE"]},
    )
    starts_at = clock_time("09:00", required=True)
    ends_at = clock_time("10:15", required=True)
    room = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(min=1, max=50), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"example": "ENG 101"},
    )

    @validates_schema
    def _in_order(self, data: dict[str, Any], **_: Any) -> None:
        days = data.get("days", [])
        if len(set(days)) != len(days):
            raise ValidationError("A day is listed twice.", "days")
        if data.get("starts_at", "") >= data.get("ends_at", "99"):
            raise ValidationError("Must be after starts_at.", "ends_at")


def course_codes(what: str) -> fields.List:
    """A list of up to 10 distinct course codes."""
    return fields.List(
        code(),
        load_default=list,
        validate=[validate.Length(max=10), _distinct_codes],
        metadata={"description": what, "uniqueItems": True},
    )


def _distinct_codes(codes: list[str]) -> None:
    if len({code.lower() for code in codes}) != len(codes):
        raise ValidationError("A code is listed twice.")


class CourseSchema(Schema):
    """A course: one offering, in one term, as created and as returned."""

    id = resource_id(dump_only=True)
    term_id = identifier(
        metadata={"description": "The term it is offered in; the default term when omitted."}
    )
    code = code(
        required=True,
        metadata={"example": "CS101", "description": "Unique in its term, in any case."},
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
    meetings = fields.List(
        fields.Nested(MeetingSchema),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={"description": "When it meets each week; replaced whole by PATCH."},
    )
    prerequisites = course_codes("Codes of courses to have taken in an earlier term.")
    corequisites = course_codes("Codes of courses to take in the same term.")
    enrolled_count = fields.Integer(
        dump_only=True,
        validate=validate.Range(min=0, max=MAX_INT32),
        metadata={"description": "Students enrolled now."},
    )
    seats_available = fields.Integer(
        dump_only=True,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_INT32),
        metadata={"description": "capacity - enrolled_count; null without a capacity."},
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CourseQuerySchema(PaginationSchema):
    """Query parameters of ``GET /courses``: filters that combine, and an order."""

    term_id = QueryInteger(
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "Only the courses of this term."},
    )
    instructor_id = QueryInteger(
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "Only the courses this instructor teaches."},
    )
    code = code(metadata={"description": "Exact course code, without regard to case."})
    q = search_text("the code or title")
    has_seats = QueryBoolean(
        metadata={
            "description": "true: courses with a seat free (or no capacity); false: full ones."
        }
    )
    sort = sort(courses.SORTS)


# -- Enrollments ---------------------------------------------------------------


class OverrideSchema(Schema):
    """Registration rules an admin overrides for one enrollment, and why; the
    enrollment's event records both."""

    override = fields.List(
        fields.String(validate=validate.OneOf(OVERRIDABLE)),
        validate=[validate.Length(min=1, max=len(OVERRIDABLE)), _distinct_items],
        metadata={
            "uniqueItems": True,
            "description": "Rules to skip (admin keys only; others get 403). The window and "
            "capacity are never overridden.",
        },
    )
    reason = single_line(
        500, metadata={"description": "Why the rules are overridden: required with override."}
    )

    @validates_schema
    def _reason_with_override(self, data: dict[str, Any], **_: Any) -> None:
        if "override" in data and "reason" not in data:
            raise ValidationError("Required with override.", "reason")
        if "reason" in data and "override" not in data:
            raise ValidationError("Only with override.", "reason")


class EnrollmentRequestSchema(OverrideSchema):
    """Body of ``POST /students/<id>/courses``."""

    course_id = identifier(required=True)
    waitlist = StrictBoolean(
        load_default=False,
        metadata={"description": "When the course is full, join its waitlist (202)."},
    )

    class Meta:
        fields = ("course_id", "waitlist", "override", "reason")


class EnrollmentCheckRequestSchema(OverrideSchema):
    """Body of ``POST /students/<id>/enrollment-checks``: the enrollment to try."""

    course_id = identifier(required=True)

    class Meta:
        fields = ("course_id", "override", "reason")


class RuleErrorSchema(Schema):
    """One registration rule a request breaks."""

    type = problem_type(required=True, metadata={"description": "The rule's problem type."})
    detail = text(required=True)
    codes = fields.List(
        code(),
        validate=validate.Length(max=10),
        metadata={"description": "The missing course codes (prerequisites, corequisites)."},
    )
    course_id = resource_id(
        metadata={"description": "The course a meeting overlaps (time-conflict)."}
    )
    credits = fields.Integer(
        validate=validate.Range(min=0, max=MAX_INT32),
        metadata={"description": "The term's credits with this course (credit-limit-exceeded)."},
    )
    max_credits = fields.Integer(
        validate=validate.Range(min=0, max=100),
        metadata={"description": "The limit they exceed (credit-limit-exceeded)."},
    )


class RegistrationProblemSchema(ProblemSchema):
    """A refused enrollment: ``errors`` lists every registration rule it breaks, in the
    rules' order, and ``type`` is the first one's; a conflict of another kind
    (``already-enrolled``) has no ``errors``."""

    errors = fields.List(  # type: ignore[assignment]
        fields.Nested(RuleErrorSchema),
        validate=validate.Length(min=1, max=10),
        metadata={"description": "Every registration rule broken, in the rules' order."},
    )


class EnrollmentCheckSchema(Schema):
    """What enrolling would do, written nowhere."""

    course_id = resource_id(required=True)
    eligible = fields.Boolean(
        required=True, metadata={"description": "Whether the enrollment would succeed now."}
    )
    errors = fields.List(
        fields.Nested(RuleErrorSchema),
        required=True,
        validate=validate.Length(max=10),
        metadata={"description": "Every rule it would break, as a refusal lists them."},
    )
    waitlist = fields.Boolean(
        required=True,
        metadata={"description": "true: the course is full, so only a place in its line."},
    )


ENROLLMENT_STATUSES = ("enrolled", "waitlisted", "withdrawn")


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
    """A course a student is enrolled in (``enrolled_at``), waits for
    (``waitlist_position``, ``waitlisted_at``) or withdrew from (``enrolled_at``,
    ``withdrawn_at``)."""

    enrolled_at = Timestamp(
        dump_only=True,
        metadata={"description": "When the student enrolled (`enrolled` and `withdrawn`)."},
    )
    status = fields.String(dump_only=True, validate=validate.OneOf(ENROLLMENT_STATUSES))
    withdrawn_at = Timestamp(
        dump_only=True,
        metadata={
            "description": "When the student withdrew, after the term's drop deadline "
            "(`withdrawn` only)."
        },
    )

    class Meta:
        # Course fields first, then the enrollment's: the order clients see.
        fields = (
            *CourseSchema._declared_fields,
            "enrolled_at",
            "status",
            "waitlist_position",
            "waitlisted_at",
            "withdrawn_at",
        )

    @post_dump
    def _drop_the_other_state(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # A row of `?status=all` carries every state's columns, the others null.
        for name in ("enrolled_at", "waitlist_position", "waitlisted_at", "withdrawn_at"):
            if name in data and data[name] is None:
                del data[name]
        return data


class StudentCoursesQuerySchema(PaginationSchema):
    """Query parameters of ``GET /students/<id>/courses``."""

    term_id = QueryInteger(
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "Only the courses of this term."},
    )

    status = fields.String(
        load_default="enrolled",
        validate=validate.OneOf([*ENROLLMENT_STATUSES, "all"]),
        metadata={
            "description": "Enrolled courses (default), waitlisted ones, withdrawn ones, or "
            "all: enrolled, then waitlisted, then withdrawn."
        },
    )


class TermQuerySchema(Schema):
    """``?term_id=``, for what a student has in one term (``GET /students/<id>/schedule``
    and ``/registration``)."""

    term_id = QueryInteger(
        validate=validate.Range(min=1, max=MAX_INT32),
        metadata={"description": "The term; the default term when omitted."},
    )


class ScheduleSchema(Schema):
    """A student's week in a term: the term, and the courses they are enrolled in."""

    term = fields.Nested(TermSchema, required=True)
    courses = fields.List(
        fields.Nested(EnrolledCourseSchema),
        required=True,
        validate=validate.Length(max=1000),
        metadata={"description": "Enrolled courses, oldest enrollment first, with meetings."},
    )


class EnrolledStudentSchema(StudentSchema):
    """A student on a course's roster, with when they enrolled."""

    enrolled_at = Timestamp(dump_only=True)


class WaitingStudentSchema(StudentSchema, _WaitlistFields):
    """A student in a course's line, with their place, and what keeps them from a seat."""

    blocked_by = fields.List(
        fields.String(validate=validate.OneOf(OVERRIDABLE)),
        dump_only=True,
        validate=validate.Length(max=len(OVERRIDABLE)),
        metadata={
            "description": "The registration rules the student breaks now: a freed seat passes "
            "them by (they keep their place) until none is left. Empty for most."
        },
    )

    class Meta:
        fields = (
            *StudentSchema._declared_fields,
            "waitlist_position",
            "waitlisted_at",
            "blocked_by",
        )


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


# -- Holds and credit limits ---------------------------------------------------


class HoldSchema(Schema):
    """A hold on a student, as placed and as returned."""

    id = resource_id(dump_only=True)
    kind = fields.String(required=True, validate=validate.OneOf(HOLD_KINDS))
    reason = single_line(500, required=True)
    blocks = fields.List(
        fields.String(validate=validate.OneOf(HOLD_BLOCKS)),
        required=True,
        validate=[validate.Length(min=1, max=len(HOLD_BLOCKS)), _distinct_items],
        metadata={
            "uniqueItems": True,
            "description": "`registration`: no enrolling, nor promotion from a waitlist; "
            "`drop`: the student's own key cannot drop or withdraw.",
        },
    )
    placed_at = Timestamp(dump_only=True)
    placed_by = fields.Nested(lambda: ActorSchema(), dump_only=True)
    released_at = Timestamp(
        dump_only=True, allow_none=True, metadata={"description": "null while active."}
    )
    released_by = fields.Nested(lambda: ActorSchema(), dump_only=True, allow_none=True)


class CreditLimitSchema(Schema):
    """A student's own credit limit in a term, in place of the term's ``max_credits``."""

    term_id = resource_id(dump_only=True)
    max_credits = StrictInteger(required=True, validate=validate.Range(min=0, max=100))
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class WindowSchema(Schema):
    """A term's registration instants, and whether students may register now."""

    opens_at = Timestamp(required=True, allow_none=True)
    add_deadline = Timestamp(required=True, allow_none=True)
    drop_deadline = Timestamp(required=True, allow_none=True)
    withdraw_deadline = Timestamp(required=True, allow_none=True)
    open = fields.Boolean(
        required=True, metadata={"description": "Whether a student's own key may register now."}
    )


class CreditsSchema(Schema):
    """A student's credits in a term, and their limit there."""

    enrolled = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_INT32))
    max = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "Their own limit, else the term's; null: no limit."},
    )


class RegistrationSchema(Schema):
    """Where a student stands for registration in a term."""

    term_id = resource_id(required=True)
    window = fields.Nested(WindowSchema, required=True)
    credits = fields.Nested(CreditsSchema, required=True)
    holds = fields.List(
        fields.Nested(HoldSchema),
        required=True,
        validate=validate.Length(max=1000),
        metadata={"description": "The student's active holds, newest first."},
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
    term_id = resource_id(
        required=True,
        allow_none=True,
        metadata={
            "description": "The course's term at the time (null only for events written by a "
            "release before terms, while it was being replaced)."
        },
    )
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
            "`student-deleted`, `seat-freed`, `capacity-raised`, `rules-changed`; else null."
        },
    )
    overrides = fields.List(
        fields.String(validate=validate.OneOf(OVERRIDABLE)),
        required=True,
        validate=validate.Length(max=len(OVERRIDABLE)),
        metadata={"description": "The registration rules an admin overrode; empty when none."},
    )
    override_reason = fields.String(
        required=True,
        allow_none=True,
        validate=[validate.Length(max=500), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"description": "Why the admin overrode them; null without overrides."},
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
# Partial at the top only: a meeting in a PATCH is whole, with every field it needs.
course_update_schema = CourseSchema(partial=tuple(CourseSchema._declared_fields))
instructor_schema = InstructorSchema()
instructor_update_schema = InstructorSchema(partial=True)
term_schema = TermSchema()
term_update_schema = TermUpdateSchema(partial=True)
