"""Marshmallow schemas: they validate requests and dump responses, and the OpenAPI
document is generated from them, so the contract and the code cannot disagree.

Unknown fields raise (marshmallow's default), and ``dump_only`` fields count as
unknown on load, so ids and timestamps in a body are rejected, never ignored.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from src.fields import FREE_TEXT_PATTERN, MAX_INT32, StrictInteger, identifier, single_line

CODE_PATTERN = r"^[A-Za-z0-9-]{1,20}$"


class ProblemSchema(Schema):
    """An RFC 9457 problem details object, served as ``application/problem+json``."""

    type = fields.String(
        required=True,
        metadata={"description": "URI reference; its last segment is a stable slug."},
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Validation errors by field or parameter (422 only)."},
    )


class PaginationSchema(Schema):
    """``limit`` and ``offset`` query parameters shared by every list."""

    # Query strings are text, so these parse "20" (but not "1.5" or "true").
    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page."},
    )
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_INT32),
        metadata={"description": "Items to skip."},
    )


# -- Students -----------------------------------------------------------------


class StudentSchema(Schema):
    """A student, as created and as returned."""

    id = fields.Integer(dump_only=True)
    first_name = single_line(100, required=True)
    last_name = single_line(100, required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class StudentQuerySchema(PaginationSchema):
    """Query parameters of ``GET /students``."""

    email = fields.String(
        validate=[validate.Length(min=1, max=254), validate.Regexp(FREE_TEXT_PATTERN)],
        metadata={"description": "Exact email address, without regard to case."},
    )


# -- Courses ------------------------------------------------------------------


class CourseSchema(Schema):
    """A course, as created and as returned."""

    id = fields.Integer(dump_only=True)
    code = fields.String(
        required=True,
        validate=validate.Regexp(CODE_PATTERN, error="1 to 20 letters, digits or hyphens."),
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
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class CourseQuerySchema(PaginationSchema):
    """Query parameters of ``GET /courses``."""

    code = fields.String(
        validate=validate.Regexp(CODE_PATTERN, error="1 to 20 letters, digits or hyphens."),
        metadata={"description": "Exact course code, without regard to case."},
    )


# -- Enrollments ---------------------------------------------------------------


class EnrollmentRequestSchema(Schema):
    """Body of ``POST /students/<id>/courses``."""

    course_id = identifier(required=True)


class EnrolledCourseSchema(CourseSchema):
    """A course a student is enrolled in, with when they enrolled."""

    enrolled_at = fields.AwareDateTime(dump_only=True)


class EnrolledStudentSchema(StudentSchema):
    """A student on a course's roster, with when they enrolled."""

    enrolled_at = fields.AwareDateTime(dump_only=True)


#: Schema instances used by the views: one each for create, partial update and lists.
student_schema = StudentSchema()
student_update_schema = StudentSchema(partial=True)
course_schema = CourseSchema()
course_update_schema = CourseSchema(partial=True)
