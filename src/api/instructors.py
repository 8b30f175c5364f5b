"""``/instructors``, and who teaches which course (``/courses/<id>/instructors``)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, link
from src.api.courses import COURSE_ROW
from src.api.fast import RowShape, page_response
from src.api.framework import Blueprint
from src.auth.access import (
    any_instructor,
    any_student,
    forget_instructor_keys,
    own_instructor,
    reader,
)
from src.schemas import (
    AssignmentSchema,
    CourseInstructorSchema,
    CourseSchema,
    InstructorCoursesQuerySchema,
    InstructorSchema,
    PaginationSchema,
    instructor_schema,
    instructor_update_schema,
)
from src.services import INSTRUCTOR_COLUMNS, instructors

blp = Blueprint("instructors", __name__, description="Instructors and what they teach.")
INSTRUCTOR_ROW = RowShape(InstructorSchema(), INSTRUCTOR_COLUMNS)
COURSE_INSTRUCTOR_ROW = RowShape(CourseInstructorSchema(), (*INSTRUCTOR_COLUMNS, "role"))

NEW_INSTRUCTOR_ID = "$response.body#/id"
INSTRUCTOR_LINKS = {
    "GetInstructor": link("getInstructor", instructor_id=NEW_INSTRUCTOR_ID),
    "UpdateInstructor": link("updateInstructor", instructor_id=NEW_INSTRUCTOR_ID),
    "DeleteInstructor": link("deleteInstructor", instructor_id=NEW_INSTRUCTOR_ID),
    "ListInstructorCourses": link("listInstructorCourses", instructor_id=NEW_INSTRUCTOR_ID),
}


@blp.route("/instructors")
class Instructors(MethodView):
    """The collection of instructors."""

    @blp.doc(operationId="listInstructors")
    @blp.allow(reader)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, InstructorSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List instructors.

        In id order, a page at a time. Admins and readers."""
        page = instructors.list_instructors(args["limit"], args["offset"])
        return page_response(page, INSTRUCTOR_ROW)

    @blp.doc(operationId="createInstructor")
    @blp.admins_only
    @blp.arguments(instructor_schema)
    @blp.response(201, InstructorSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": INSTRUCTOR_LINKS}})
    @blp.problem(409, "email-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create an instructor.

        The email must be unused by any other instructor, in any case (`409 email-taken`).
        Admins only."""
        instructor = instructors.create_instructor(data)
        location = url_for("instructors.Instructor", instructor_id=instructor["id"])
        return instructor, {"Location": location}


@blp.route("/instructors/<id:instructor_id>")
@blp.etag
class Instructor(MethodView):
    """One instructor."""

    @blp.doc(operationId="getInstructor")
    @blp.allow(reader, own_instructor)
    @blp.response(200, InstructorSchema)
    @blp.problem(404, "instructor-not-found")
    def get(self, instructor_id: int) -> Any:
        """Read an instructor.

        Carries an `ETag`. Admins, readers and the instructor's own key."""
        return instructors.get_instructor(instructor_id)

    @blp.doc(operationId="updateInstructor")
    @blp.admins_only
    @blp.arguments(instructor_update_schema)
    @blp.response(200, InstructorSchema)
    @blp.problem(404, "instructor-not-found")
    @blp.problem(409, "email-taken")
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], instructor_id: int) -> Any:
        """Change some of an instructor's fields.

        With `If-Match`, only if the instructor still has that ETag. Admins only."""
        precondition = blp.precondition(InstructorSchema)
        return instructors.update_instructor(instructor_id, changes, precondition)

    @blp.doc(operationId="deleteInstructor")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "instructor-not-found")
    @blp.problem(412, "precondition-failed")
    def delete(self, instructor_id: int) -> None:
        """Delete an instructor.

        Their assignments and their keys go with them. With `If-Match`, only if the instructor
        still has that ETag. Admins only."""
        instructors.delete_instructor(instructor_id, blp.precondition(InstructorSchema))
        forget_instructor_keys(instructor_id)


@blp.route("/instructors/<id:instructor_id>/courses")
class InstructorCourses(MethodView):
    """The courses an instructor teaches."""

    @blp.doc(operationId="listInstructorCourses")
    @blp.allow(reader, own_instructor)
    @blp.arguments(InstructorCoursesQuerySchema, location="query")
    @blp.response(200, CourseSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "instructor-not-found")
    def get(self, args: dict[str, Any], instructor_id: int) -> Any:
        """List an instructor's courses.

        In id order, a page at a time; `term_id` keeps one term's. Admins, readers and the
        instructor's own key."""
        page = instructors.instructor_courses(
            instructor_id, args["limit"], args["offset"], args.get("term_id")
        )
        return page_response(page, COURSE_ROW)


@blp.route("/courses/<id:course_id>/instructors")
class CourseInstructors(MethodView):
    """Who teaches a course."""

    @blp.doc(operationId="listCourseInstructors")
    @blp.allow(reader, any_student, any_instructor)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, CourseInstructorSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "course-not-found")
    def get(self, args: dict[str, Any], course_id: int) -> Any:
        """List a course's instructors.

        Each with their `role`, the primary instructor first. Every key may read them."""
        page = instructors.course_instructors(course_id, args["limit"], args["offset"])
        return page_response(page, COURSE_INSTRUCTOR_ROW)


@blp.route("/courses/<id:course_id>/instructors/<id:instructor_id>")
class CourseInstructor(MethodView):
    """One instructor of one course."""

    @blp.doc(operationId="assignInstructor")
    @blp.admins_only
    @blp.arguments(AssignmentSchema)
    @blp.response(201, CourseInstructorSchema)
    @blp.alt_response(
        200,
        schema=CourseInstructorSchema,
        success=True,
        description="Already assigned: the role is now the one given",
    )
    @blp.problem(404, "course-not-found", "instructor-not-found")
    @blp.problem(409, "course-has-primary-instructor")
    def put(self, data: dict[str, Any], course_id: int, instructor_id: int) -> Any:
        """Assign an instructor to a course.

        `201` when new, `200` when the instructor was assigned already (with the role given now).
        A course has at most one primary instructor (`409 course-has-primary-instructor`).
        Admins only."""
        assignment, created = instructors.assign(course_id, instructor_id, data["role"])
        return assignment, 201 if created else 200

    @blp.doc(operationId="unassignInstructor")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "course-not-found", "instructor-not-found", "not-assigned")
    def delete(self, course_id: int, instructor_id: int) -> None:
        """Take an instructor off a course.

        `404 not-assigned` when they were not on it. Admins only."""
        instructors.unassign(course_id, instructor_id)
