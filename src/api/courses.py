"""``/courses``: create, list, read, update and delete courses."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from src.api import LIST_HEADERS, LOCATION_HEADER, link
from src.api.fast import RowShape, page_response
from src.api.framework import Blueprint
from src.api.pagination import pagination_headers
from src.auth.access import any_instructor, any_student, assigned_instructor, reader
from src.schemas import (
    CourseQuerySchema,
    CourseSchema,
    EnrolledStudentSchema,
    PaginationSchema,
    WaitingStudentSchema,
    course_schema,
    course_update_schema,
)
from src.services import COURSE_COLUMNS, STUDENT_COLUMNS, courses, enrollments, waitlists

blp = Blueprint("courses", __name__, description="Courses and their rosters.")
#: Rows the hot paths serialise without marshmallow (src/api/fast.py).
COURSE_ROW = RowShape(CourseSchema(), COURSE_COLUMNS)
ROSTER_ROW = RowShape(EnrolledStudentSchema(), (*STUDENT_COLUMNS, "enrolled_at"))

NEW_COURSE_ID = "$response.body#/id"
#: What a created course leads to: itself, its roster, and enrolling in it.
COURSE_LINKS = {
    "GetCourse": link("getCourse", course_id=NEW_COURSE_ID),
    "UpdateCourse": link("updateCourse", course_id=NEW_COURSE_ID),
    "DeleteCourse": link("deleteCourse", course_id=NEW_COURSE_ID),
    "GetRoster": link("getRoster", course_id=NEW_COURSE_ID),
    "EnrollInCourse": link("enrollStudent", requestBody={"course_id": NEW_COURSE_ID}),
}


@blp.route("/courses")
class Courses(MethodView):
    """The collection of courses."""

    @blp.doc(operationId="listCourses")
    @blp.allow(reader, any_student, any_instructor)
    @blp.arguments(CourseQuerySchema, location="query")
    @blp.response(200, CourseSchema(many=True), headers=LIST_HEADERS)
    def get(self, args: dict[str, Any]) -> Any:
        """List courses.

        A page at a time, in id order or by `sort`. The filters combine: `term_id`, `code` (exact,
        any case), `q` (in the code or title, any case) and `has_seats`; `X-Total-Count` counts
        the filtered list; `instructor_id` keeps the courses an instructor teaches. Every key may
        list courses."""
        limit, offset, sort = args.pop("limit"), args.pop("offset"), args.pop("sort", None)
        return page_response(courses.list_courses(limit, offset, args, sort), COURSE_ROW)

    @blp.doc(operationId="createCourse")
    @blp.admins_only
    @blp.arguments(course_schema)
    @blp.response(201, CourseSchema, headers=LOCATION_HEADER)
    @blp.doc(responses={201: {"links": COURSE_LINKS}})
    @blp.problem(404, "term-not-found")
    @blp.problem(409, "course-code-taken")
    def post(self, data: dict[str, Any]) -> Any:
        """Create a course.

        In the term `term_id`, or the default term without it. The code must be unused in the term
        in any case (`409 course-code-taken`); `capacity` null means no limit, `waitlist_capacity`
        0 (the default) no waitlist. Admins only."""
        course = courses.create_course(data)
        return course, {"Location": url_for("courses.Course", course_id=course["id"])}


@blp.route("/courses/<id:course_id>")
@blp.etag
class Course(MethodView):
    """One course."""

    @blp.doc(operationId="getCourse")
    @blp.allow(reader, any_student, any_instructor)
    @blp.response(200, CourseSchema)
    @blp.problem(404, "course-not-found")
    def get(self, course_id: int) -> Any:
        """Read a course.

        Carries an `ETag`; `If-None-Match` with it answers `304` without a body. Every key may
        read a course."""
        return courses.get_course(course_id)

    @blp.doc(operationId="updateCourse")
    @blp.admins_only
    @blp.arguments(course_update_schema)
    @blp.response(200, CourseSchema)
    @blp.problem(404, "course-not-found", "term-not-found")
    @blp.problem(
        409,
        "course-code-taken",
        "capacity-below-enrollment",
        "capacity-below-waitlist",
        "course-has-enrollments",
    )
    @blp.problem(412, "precondition-failed")
    def patch(self, changes: dict[str, Any], course_id: int) -> Any:
        """Change some of a course's fields.

        A capacity below the students enrolled is `409 capacity-below-enrollment`, a waitlist
        capacity below the students waiting `409 capacity-below-waitlist`; new seats go to the
        first in line at once. `meetings`, `prerequisites` and `corequisites` are replaced whole.
        `term_id` may change only while nobody is enrolled or waiting (`409
        course-has-enrollments`). With `If-Match`, only if the course still has that ETag. Admins
        only."""
        return courses.update_course(course_id, changes, blp.precondition(CourseSchema))

    @blp.doc(operationId="deleteCourse")
    @blp.admins_only
    @blp.response(204)
    @blp.problem(404, "course-not-found")
    @blp.problem(409, "course-has-enrollments")
    @blp.problem(412, "precondition-failed")
    def delete(self, course_id: int) -> None:
        """Delete a course.

        Only a course nobody is enrolled in or waiting for (`409 course-has-enrollments`). With
        `If-Match`, only if the course still has that ETag. Admins only."""
        courses.delete_course(course_id, blp.precondition(CourseSchema))


@blp.route("/courses/<id:course_id>/students")
class CourseStudents(MethodView):
    """A course's roster."""

    @blp.doc(operationId="getRoster")
    @blp.allow(reader, assigned_instructor)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, EnrolledStudentSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "course-not-found")
    def get(self, args: dict[str, Any], course_id: int) -> Any:
        """List a course's roster.

        The students enrolled, each with `enrolled_at`, oldest enrollment first, a page at a
        time; students waiting are on the waitlist instead. Admins, readers and the keys of the
        course's instructors."""
        page = enrollments.roster(course_id, args["limit"], args["offset"])
        return page_response(page, ROSTER_ROW)


@blp.route("/courses/<id:course_id>/waitlist")
class CourseWaitlist(MethodView):
    """A course's waiting line."""

    @blp.doc(operationId="getWaitlist")
    @blp.allow(reader, assigned_instructor)
    @blp.arguments(PaginationSchema, location="query")
    @blp.response(200, WaitingStudentSchema(many=True), headers=LIST_HEADERS)
    @blp.problem(404, "course-not-found")
    def get(self, args: dict[str, Any], course_id: int) -> Any:
        """List a course's waitlist.

        The students waiting for a seat, first in line first, each with `waitlist_position` and
        `waitlisted_at`, a page at a time; `blocked_by` lists the registration rules a student
        breaks now (a freed seat passes them by, and they keep their place). Admins, readers and
        the keys of the course's instructors."""
        page, waiting = waitlists.line(course_id, args["limit"], args["offset"])
        return waiting, pagination_headers(page)
